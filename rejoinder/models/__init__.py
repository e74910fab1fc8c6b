"""Keras 3 model definitions (BERT, QA-LSTM, task heads) and pretrained checkpoint import."""
