"""Using a trained model: :class:`~.predict.TrainedModel`, prediction, ONNX export and the model
card."""
