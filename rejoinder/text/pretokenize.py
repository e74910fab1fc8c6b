"""Pre-tokenize a corpus over all cores, so training reads ids, not text.

`featurize_parallel` gives exactly what `Featurizer.records` gives in one process (same
tokenizer files, same formatting, same order), with the records split into chunks that worker
processes featurize; a tqdm bar counts records. Workers are *spawned*, not forked: the parent
may already hold TensorFlow's threads, which do not survive a fork. Each worker loads the
tokenizer from its saved directory (tokenizer objects are not picklable) and runs it
single-threaded, so N workers use N cores rather than N × cores threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..api.spec import Architecture, Task
from .features import Features, Featurizer, SequenceConfig
from .formats import Record

log = logging.getLogger(__name__)

_worker: dict[str, object] = {}


def _init_worker(tokenizer_dir: str, sequence: dict, task: Task, architecture: Architecture) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread per worker process
    from .tokenizer import load_tokenizer

    _worker["featurizer"] = Featurizer(load_tokenizer(tokenizer_dir, threads=1), SequenceConfig(**sequence))
    _worker["task"] = task
    _worker["architecture"] = architecture


def _featurize_chunk(records: Sequence[Record]) -> Features:
    featurizer = _worker["featurizer"]
    assert isinstance(featurizer, Featurizer)
    return featurizer.records(_worker["task"], _worker["architecture"], records)  # type: ignore[arg-type]


def _concat(parts: list[Features]) -> Features:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def featurize_parallel(
    tokenizer_dir: Union[str, Path],
    sequence: SequenceConfig,
    task: Task,
    architecture: Architecture,
    records: Sequence[Record],
    *,
    workers: Optional[int] = None,
    chunk_size: int = 2000,
    progress: bool = True,
) -> Features:
    """A task's model-input arrays for `records`, computed by `workers` processes (default: all cores)."""
    from tqdm import tqdm

    from .tokenizer import load_tokenizer

    task, architecture = Task(task), Architecture(architecture)
    workers = workers or os.cpu_count() or 1
    chunks = [records[i : i + chunk_size] for i in range(0, len(records), chunk_size)]
    if not chunks:
        raise ValueError("no records to pre-tokenize")
    bar = tqdm(total=len(records), unit="rec", desc=f"pre-tokenizing {task}", disable=not progress)
    parts: list[Features] = []
    if workers == 1 or len(chunks) == 1:
        featurizer = Featurizer(load_tokenizer(tokenizer_dir), sequence)
        for chunk in chunks:
            parts.append(featurizer.records(task, architecture, chunk))
            bar.update(len(chunk))
    else:
        ctx = multiprocessing.get_context("spawn")
        args = (str(tokenizer_dir), sequence.to_json(), task, architecture)
        with ctx.Pool(min(workers, len(chunks)), initializer=_init_worker, initargs=args) as pool:
            for chunk, part in zip(chunks, pool.imap(_featurize_chunk, chunks)):
                parts.append(part)
                bar.update(len(chunk))
    bar.close()
    return _concat(parts)
