"""NN Microscope's Python client.

A network at a step is one safetensors message: the layers' weights under
PyTorch's names (``0.weight`` ``[out, in]``, ``0.bias``) or Flax's
(``Dense_0/kernel`` ``[in, out]``), gradients as ``NAME.grad``, and in the
metadata the step, the hidden activations, the output and every scalar.
The same bytes are a checkpoint on disk (:func:`save`) and a message posted
to ``nnm view --listen`` (:func:`connect`, :meth:`Run.log`).
"""

from __future__ import annotations

import http.client
import queue
import threading
from typing import Any, Dict, Iterable, Mapping, Optional

import numpy as np
from safetensors.numpy import save as _to_bytes

__all__ = ["connect", "watch", "save", "message", "tensors_of", "Run", "Watched", "StreamError"]

FORMAT = "nnm-stream"
VERSION = "1"
LOG_PATH = "/log"
DEFAULT_ADDR = "127.0.0.1:7470"


class StreamError(RuntimeError):
    """The microscope refused a step, or could not be reached."""


def _numpy(value: Any) -> np.ndarray:
    """A float32 numpy array of a numpy array, a torch tensor or a JAX array."""
    if hasattr(value, "detach"):  # torch, without importing it
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterable[tuple]:
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _flatten(value, name)
        else:
            yield name, value


class Watched:
    """A PyTorch module whose ``nn.Linear`` layers are read at every log."""

    def __init__(self, module: Any, grads: bool = True):
        self.module = module
        self.grads = grads

    def tensors(self) -> Dict[str, np.ndarray]:
        out: Dict[str, np.ndarray] = {}
        for name, layer in self.module.named_modules():
            if type(layer).__name__ != "Linear" or getattr(layer, "weight", None) is None:
                continue
            prefix = f"{name}." if name else ""
            out[prefix + "weight"] = _numpy(layer.weight)
            if getattr(layer, "bias", None) is not None:
                out[prefix + "bias"] = _numpy(layer.bias)
            if self.grads:
                for part in ("weight", "bias"):
                    grad = getattr(getattr(layer, part, None), "grad", None)
                    if grad is not None:
                        out[prefix + part + ".grad"] = _numpy(grad)
        if not out:
            raise StreamError(f"{type(self.module).__name__} has no nn.Linear layers to watch")
        return out


def watch(module: Any, grads: bool = True) -> Watched:
    """Reads the ``nn.Linear`` layers of a PyTorch module (and their
    gradients, with ``grads``) whenever it is logged, without importing torch."""
    return Watched(module, grads)


def tensors_of(source: Any) -> Dict[str, np.ndarray]:
    """Named float32 arrays of a :class:`Watched` module, a module (its
    ``state_dict``), a dict of arrays or tensors, or a nested parameter tree
    (Flax's ``{"params": {"Dense_0": {"kernel": ...}}}``, joined with ``/``)."""
    if isinstance(source, Watched):
        return source.tensors()
    if hasattr(source, "named_modules"):
        return Watched(source, grads=False).tensors()
    if hasattr(source, "state_dict") and not isinstance(source, Mapping):
        source = source.state_dict()
    if not isinstance(source, Mapping):
        raise StreamError(f"cannot read tensors from a {type(source).__name__}")
    return {name: _numpy(value) for name, value in _flatten(source)}


def message(
    step: int,
    tensors: Any,
    activations: Optional[Iterable[str]] = None,
    output: Optional[str] = None,
    probe: Any = None,
    **scalars: float,
) -> bytes:
    """One message: the network of ``tensors`` at ``step``, with its scalars.
    ``activations`` names the hidden layers' non-linearities (``relu``,
    ``tanh``...), ``output`` the output's (``softmax`` or ``linear``), and
    ``probe`` a few inputs (``[n, in]``) to follow through the network."""
    if int(step) < 0:
        raise StreamError(f"step {step}: steps are whole numbers from 0")
    named = tensors_of(tensors)
    if probe is not None:
        named["probe.input"] = _numpy(probe)
    metadata = {"format": FORMAT, "version": VERSION, "step": str(int(step))}
    if activations is not None:
        metadata["activations"] = ",".join(activations)
    if output is not None:
        metadata["output"] = output
    for name, value in scalars.items():
        metadata[name] = repr(float(value))
    return _to_bytes(named, metadata=metadata)


def save(path: str, step: int, tensors: Any, **kwargs: Any) -> None:
    """Writes the message of ``step`` to ``path`` (a checkpoint ``nnm import`` reads)."""
    data = message(step, tensors, **kwargs)
    with open(path, "wb") as f:
        f.write(data)


class Run:
    """A connection to ``nnm view --listen``: :meth:`log` queues a step and
    returns at once; a thread posts the steps in order. :meth:`flush` waits
    until every step was taken and raises the first refusal."""

    def __init__(
        self,
        addr: str = DEFAULT_ADDR,
        token: Optional[str] = None,
        activations: Optional[Iterable[str]] = None,
        output: Optional[str] = None,
        queue_size: int = 64,
        timeout: float = 30.0,
    ):
        host = addr.split("://", 1)[-1].rstrip("/")
        self.host, _, port = host.rpartition(":")
        if not self.host or not port.isdigit():
            raise StreamError(f"{addr}: not an address like {DEFAULT_ADDR}")
        self.port = int(port)
        self.headers = {"Content-Type": "application/octet-stream"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.activations = list(activations) if activations is not None else None
        self.output = output
        self.timeout = timeout
        self.watched: Optional[Watched] = None
        self._queue: "queue.Queue[Optional[bytes]]" = queue.Queue(maxsize=queue_size)
        self._error: Optional[StreamError] = None
        self._connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._check_health()
        self._sender = threading.Thread(target=self._send_all, name="nnm-sender", daemon=True)
        self._sender.start()

    def _check_health(self) -> None:
        try:
            status, text = self._request("GET", "/health", None)
        except OSError as e:
            raise StreamError(f"{self.host}:{self.port}: cannot connect ({e}); is `nnm view --listen` running?") from e
        if status != 200:
            raise StreamError(f"{self.host}:{self.port}: refused ({status}): {text}")

    def _request(self, method: str, path: str, body: Optional[bytes]) -> tuple:
        for attempt in (0, 1):
            try:
                self._connection.request(method, path, body=body, headers=self.headers)
                response = self._connection.getresponse()
                return response.status, response.read().decode("utf-8", "replace").strip()
            except (http.client.HTTPException, ConnectionError):
                # A kept-alive connection the server closed: one fresh try.
                self._connection.close()
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise StreamError("unreachable")

    def _send_all(self) -> None:
        while True:
            data = self._queue.get()
            try:
                if data is None:
                    return
                if self._error is not None:
                    continue
                try:
                    status, text = self._request("POST", LOG_PATH, data)
                except OSError as e:
                    self._error = StreamError(f"{self.host}:{self.port}: {e}")
                    continue
                if status != 200:
                    self._error = StreamError(f"{self.host}:{self.port} refused a step ({status}): {text}")
            finally:
                self._queue.task_done()

    def watch(self, module: Any, grads: bool = True) -> Watched:
        """Logs ``module``'s ``nn.Linear`` layers whenever :meth:`log` is given no tensors."""
        self.watched = watch(module, grads)
        return self.watched

    def log(self, step: int, tensors: Any = None, probe: Any = None, **scalars: float) -> None:
        """Queues the network at ``step`` (``tensors``, or the watched module)
        with its scalars; raises the error of an earlier step, if any."""
        if self._error is not None:
            raise self._error
        source = tensors if tensors is not None else self.watched
        if source is None:
            raise StreamError("log needs tensors or a module, or watch(module) first")
        data = message(step, source, self.activations, self.output, probe, **scalars)
        self._queue.put(data)

    def flush(self) -> None:
        """Waits until every queued step was taken; raises the first refusal."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Flushes, then ends the sending thread and the connection."""
        try:
            self.flush()
        finally:
            self._queue.put(None)
            self._sender.join()
            self._connection.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(addr: str = DEFAULT_ADDR, token: Optional[str] = None, **kwargs: Any) -> Run:
    """Connects to ``nnm view --listen`` at ``addr`` (``host:port``)."""
    return Run(addr, token=token, **kwargs)
