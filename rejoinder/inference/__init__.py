"""The fast inference path: a bundle's BERT as ONNX, served by ONNX Runtime in float32 or int8.

TensorFlow trains; at export the bundle also gets ONNX graphs of its model, an int8 version
where it keeps retrieval quality, and the verdict of that gate, all in its manifest ("inference").

    onnx_graph  Keras weights → ONNX graphs (one per encoder input)
    quantize    the int8 recipes (dynamic, per-channel, which MatMuls stay float32)
    gate        the int8 quality gate (cosine, recall@20 / MRR@20 within float32's interval)
    export      all of it at export time, into the bundle
    engine      ONNX Runtime sessions behind ModelBundle.run
    choice      which runtime and precision serve a bundle on this machine
"""
