"""rejoinder.training: Horovod training, evaluation and export (imported as rejoinder.training)."""
