"""Dialog data formats, context formatting and tokenization, shared by training and serving.

    formats     JSONL records (pairs, reactions, sessions, candidates), strict reader, split
    context     turns → text (the one formatting function training and serving call)
    tokenizer   the Tokenizer interface, load_tokenizer; bpe (YouTokenToMe), wordpiece (HF)
    encoding    ids → fixed-length int32 arrays with [CLS]/[SEP]
    features    Featurizer: records → a task's model inputs
    masking     masked-LM corruption
    shards      pre-tokenized shards on disk
    chatterbot  the chatterbot-corpus import; synthetic: a labelled synthetic generator
"""
