"""Dialog data formats, context formatting and tokenization, shared by training and serving."""
