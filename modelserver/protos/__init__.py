"""Generated gRPC/protobuf code for the model server API."""
