"""The Jupyter server extension: the ``/training/*`` REST routes, their handlers and the OpenAPI
document. It routes; training, data and models run in worker processes."""
