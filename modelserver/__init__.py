"""rejoinder.modelserver: FAISS index and the gRPC model server (imported as rejoinder.modelserver)."""
