"""The offline eval suite: replay recorded LLM answers through the real pipeline and score them."""
