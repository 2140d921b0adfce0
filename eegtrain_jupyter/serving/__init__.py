"""Using a trained model: :func:`~.predict.load_model`, prediction, ONNX export and the model
card."""
