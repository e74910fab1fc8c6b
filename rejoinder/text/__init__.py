"""Dialog data formats, context formatting and tokenization, shared by training and serving.

    formats      JSONL records (pairs, reactions, sessions, candidates), strict reader, split
    context      turns → text (the one formatting function training and serving call)
    tokenizer    the Tokenizer interface, load_tokenizer; bpe (YouTokenToMe), wordpiece (HF)
    from_spec    tokenizer_for_spec: the tokenizer a DialogModel spec asks for
    encoding     ids → fixed-length int32 arrays with [CLS]/[SEP]
    features     Featurizer: records → a task's model inputs
    masking      masked-LM corruption
    pretokenize  featurize_parallel: the Featurizer over worker processes
    chatterbot   the chatterbot-corpus import; synthetic: a labelled synthetic generator
"""
