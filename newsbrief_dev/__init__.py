"""Development tools beside the service: the offline eval suite and the fake LLM server.

They live in the source repository only and are not part of the `newsbrief` wheel or image:
serving never needs them, and production gets no `eval` or fake-upstream code paths.
"""
