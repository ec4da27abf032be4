"""The simple CNN baseline of Sasse et al. 2023 (Methods): model, training, and scoring.

One convolution of 900 kernels of width 10 with ReLU over the one-hot reference
window (40,001 bp), average pooling over 900 bp, a dense layer of 200 with ReLU,
and one linear output: the gene's mean log expression across people. Trained
with MSE and Adam (lr 0.001) on reference windows, split over genes.

Scoring a sequence that differs from a cached reference at a few bases needs only
the conv positions whose receptive field covers a changed base: the pooled
features are patched by the change at those positions, and only the dense layers
run in full. That makes ISM and personal haplotypes cheap (`ReferenceCache`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from compute.cohort.reference import one_hot

CHUNK_FLOATS = 1 << 24  # conv activations computed at a time (64 MB of float32)


@dataclass(frozen=True)
class CNNConfig:
    """Architecture; the defaults are the paper's."""

    window: int = 40_001
    kernels: int = 900
    kernel_width: int = 10
    pool: int = 900
    hidden: int = 200

    @property
    def n_conv(self) -> int:
        """Conv output positions ('valid' convolution)."""
        return self.window - self.kernel_width + 1

    @property
    def n_bins(self) -> int:
        """Pooled bins; the last n_conv % pool conv positions fall outside every bin, as in AvgPool1d."""
        return self.n_conv // self.pool

    def check(self) -> None:
        for name in ("window", "kernels", "kernel_width", "pool", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"CNN {name} must be at least 1, found {getattr(self, name)}")
        if self.n_bins < 1:
            raise ValueError(
                f"CNN window {self.window} is too short for kernel width {self.kernel_width} and pool "
                f"{self.pool}: expected window >= kernel_width - 1 + pool"
            )


@dataclass(frozen=True)
class TrainOptions:
    """How the CNN is fitted: MSE, Adam, early stopping on the validation genes."""

    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5  # epochs without a better validation MSE before stopping
    seed: int = 0


class SimpleCNN(nn.Module):
    """conv(4 -> kernels, width) + ReLU, AvgPool(pool), dense(hidden) + ReLU, linear(1).

    Input one-hot `(batch, window, 4)` (channels A,C,G,T; N all zero), output the
    score `(batch,)` in expression units: the network predicts standardized targets
    and the buffers `target_mean`, `target_std` (from the training genes) undo that.
    """

    def __init__(self, config: CNNConfig):
        super().__init__()
        config.check()
        self.config = config
        self.conv = nn.Conv1d(4, config.kernels, config.kernel_width)
        self.pool = nn.AvgPool1d(config.pool)
        self.dense = nn.Linear(config.kernels * config.n_bins, config.hidden)
        self.out = nn.Linear(config.hidden, 1)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot `(B, L, 4)` -> pooled conv features `(B, kernels, n_bins)`.

        Computed a few pooled bins at a time: at the paper's size the conv output is
        144 MB per sequence, so a whole batch at once would take gigabytes. In training
        each chunk is checkpointed, so only the pooled features are kept for backward.
        """
        cfg = self.config
        xt = x.transpose(1, 2)
        step = max(1, CHUNK_FLOATS // max(1, len(x) * cfg.kernels * cfg.pool))  # bins per chunk
        checkpointed = torch.is_grad_enabled() and self.training
        chunks = []
        for b0 in range(0, cfg.n_bins, step):
            b1 = min(b0 + step, cfg.n_bins)
            segment = xt[:, :, b0 * cfg.pool : b1 * cfg.pool + cfg.kernel_width - 1]
            if checkpointed:
                chunks.append(checkpoint(self._pooled_segment, segment, use_reentrant=False))
            else:
                chunks.append(self._pooled_segment(segment))
        return torch.cat(chunks, dim=2)

    def _pooled_segment(self, segment: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv(segment)))

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled features `(B, kernels, n_bins)` -> standardized prediction `(B,)`."""
        hidden = torch.relu(self.dense(pooled.flatten(1)))
        return self.out(hidden).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x)) * self.target_std + self.target_mean


def build_model(config: CNNConfig, seed: int = 0) -> SimpleCNN:
    """A freshly initialised CNN; the seed alone decides the weights (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SimpleCNN(config)


# --------------------------------------------------------------------------- training


@dataclass
class TrainedCNN:
    model: SimpleCNN
    history: pd.DataFrame  # epoch, train_mse, validation_mse, seconds (MSE of standardized targets)
    best_epoch: int


def _batch_scores(model: SimpleCNN, tokens: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(tokens), batch_size):
            x = one_hot(torch.from_numpy(tokens[start : start + batch_size]).to(device))
            out.append(model(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.empty(0)


def train_cnn(
    tokens: np.ndarray,
    targets: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    config: CNNConfig,
    options: TrainOptions | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
) -> TrainedCNN:
    """Fit the CNN on reference windows `tokens` (uint8 `(n_genes, window)`) to `targets` (n_genes,).

    `train`, `validation`: boolean masks over genes. Each epoch visits the training
    genes once in a seeded order; the weights of the epoch with the lowest
    validation MSE are kept (the last epoch's when there are no validation genes),
    and training stops after `patience` epochs without improvement.
    """
    options = options or TrainOptions()
    tokens = np.asarray(tokens, dtype=np.uint8)
    targets = np.asarray(targets, dtype=np.float64)
    train, validation = np.asarray(train, bool), np.asarray(validation, bool)
    if tokens.ndim != 2 or tokens.shape[1] != config.window or targets.shape != (len(tokens),):
        raise ValueError(
            f"train_cnn: expected tokens (n_genes, {config.window}) and targets (n_genes,); "
            f"found {tokens.shape} and {targets.shape}"
        )
    if train.sum() < 2:
        raise ValueError(f"train_cnn: expected at least 2 training genes, found {int(train.sum())}")
    if not np.isfinite(targets[train | validation]).all():
        raise ValueError("train_cnn: targets of the training and validation genes must be finite")
    device = torch.device(device)
    model = build_model(config, options.seed).to(device)
    mean, std = float(targets[train].mean()), float(targets[train].std())
    model.target_mean.fill_(mean)
    model.target_std.fill_(std if std > 0 else 1.0)
    z = torch.from_numpy((targets - mean) / float(model.target_std)).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    rng = np.random.default_rng(options.seed)
    train_idx, val_idx = np.flatnonzero(train), np.flatnonzero(validation)

    def validation_mse() -> float:
        if not len(val_idx):
            return float("nan")
        model.eval()
        pred = _batch_scores(model, tokens[val_idx], options.batch_size, device)
        return float(np.mean(((pred - mean) / float(model.target_std) - z[val_idx].numpy()) ** 2))

    best_state, best_mse, best_epoch, stale = None, np.inf, 0, 0
    rows = []
    for epoch in range(1, options.epochs + 1):
        started = time.perf_counter()
        model.train()
        total = 0.0
        order = rng.permutation(train_idx)
        for start in range(0, len(order), options.batch_size):
            idx = order[start : start + options.batch_size]
            x = one_hot(torch.from_numpy(tokens[idx]).to(device))
            loss = torch.mean((model.head(model.pooled(x)) - z[idx].to(device)) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        val = validation_mse()
        rows.append((epoch, total / len(train_idx), val, time.perf_counter() - started))
        if log is not None:
            log(f"epoch {epoch}: train MSE {rows[-1][1]:.4f}, validation MSE {val:.4f}")
        if np.isnan(val) or val < best_mse:
            best_mse, best_epoch, stale = (val if not np.isnan(val) else np.inf), epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= options.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    history = pd.DataFrame(rows, columns=["epoch", "train_mse", "validation_mse", "seconds"])
    return TrainedCNN(model, history, best_epoch)


def save_cnn(model: SimpleCNN, path) -> None:
    """Weights and architecture in one file (torch.save of plain tensors and a dict)."""
    torch.save({"config": asdict(model.config), "state": model.state_dict()}, path)


def load_cnn(path, device: str | torch.device = "cpu") -> SimpleCNN:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = SimpleCNN(CNNConfig(**saved["config"]))
    model.load_state_dict(saved["state"])
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --------------------------------------------------------------------------- scoring


def score_tokens(model: SimpleCNN, tokens: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Full forward of token sequences `(B, window)` -> scores `(B,)` (float64)."""
    device = next(model.parameters()).device
    return _batch_scores(model, np.asarray(tokens, dtype=np.uint8), batch_size, device)


class ReferenceCache:
    """A reference window's conv activations, so that sequences differing from it at a few
    bases are scored from the conv positions those bases reach, not the whole window.

    A base at index i enters conv positions i - width + 1 .. i; each such position's
    activation changes, the pooled bin it falls in changes by (new - old) / pool, and
    the dense layers run on the patched pooled features. Exact up to float rounding.
    """

    def __init__(self, model: SimpleCNN, ref_tokens: np.ndarray):
        cfg = model.config
        self.model, self.config = model, cfg
        self.ref = np.asarray(ref_tokens, dtype=np.uint8)
        if self.ref.shape != (cfg.window,):
            raise ValueError(f"reference tokens: expected ({cfg.window},), found {self.ref.shape}")
        self.device = next(model.parameters()).device
        with torch.no_grad():
            x = one_hot(torch.from_numpy(self.ref[None]).to(self.device)).transpose(1, 2)
            # Activations at the pooled conv positions, (positions, kernels), a chunk at a time.
            step = max(1, CHUNK_FLOATS // (cfg.kernels * cfg.pool)) * cfg.pool
            n_pooled = cfg.n_bins * cfg.pool
            self.activation = torch.empty((n_pooled, cfg.kernels), device=self.device)
            for p0 in range(0, n_pooled, step):
                p1 = min(p0 + step, n_pooled)
                act = torch.relu(model.conv(x[:, :, p0 : p1 + cfg.kernel_width - 1]))[0]
                self.activation[p0:p1] = act.T
            pooled = self.activation.view(cfg.n_bins, cfg.pool, cfg.kernels).mean(dim=1)
            self.pooled = pooled.T.contiguous()  # (kernels, n_bins)
            self.score = float(model.head(self.pooled[None])[0] * model.target_std + model.target_mean)
        self.weight = model.conv.weight.detach()  # (kernels, 4, width)
        self.bias = model.conv.bias.detach()

    def conv_positions(self, changed: np.ndarray) -> np.ndarray:
        """Sorted conv positions inside a pooled bin whose input covers a changed base index."""
        cfg = self.config
        reach = (np.asarray(changed)[:, None] - np.arange(cfg.kernel_width)[None, :]).ravel()
        reach = reach[(reach >= 0) & (reach < cfg.n_bins * cfg.pool)]
        return np.unique(reach)

    def scores(self, tokens: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Scores `(B,)` of token sequences `(B, window)` that differ from the reference at few bases."""
        tokens = np.asarray(tokens, dtype=np.uint8)
        if tokens.ndim != 2 or tokens.shape[1] != self.config.window:
            raise ValueError(f"tokens: expected (B, {self.config.window}), found {tokens.shape}")
        rows = [self.conv_positions(np.flatnonzero(t != self.ref)) for t in tokens]
        out, start = [], 0
        while start < len(tokens):
            # Up to batch_size sequences, fewer where many changed positions would make the
            # (sequences x positions x kernels) activations larger than CHUNK_FLOATS.
            stop, width = start + 1, len(rows[start])
            while stop < min(start + batch_size, len(tokens)):
                wider = max(width, len(rows[stop]))
                if (stop + 1 - start) * wider * self.config.kernels > CHUNK_FLOATS:
                    break
                stop, width = stop + 1, wider
            out.append(self._scores(tokens[start:stop], rows[start:stop]))
            start = stop
        return np.concatenate(out) if out else np.empty(0)

    def _scores(self, tokens: np.ndarray, rows: list[np.ndarray]) -> np.ndarray:
        cfg, model = self.config, self.model
        width = max((len(r) for r in rows), default=0)
        pooled = self.pooled.T.expand(len(tokens), -1, -1).clone()  # (B, n_bins, kernels)
        if width:
            positions = np.zeros((len(tokens), width), dtype=np.int64)
            valid = np.zeros((len(tokens), width), dtype=bool)
            for b, r in enumerate(rows):
                positions[b, : len(r)], valid[b, : len(r)] = r, True
            # The width bases each conv position reads, for every sequence: (B, P, width).
            reads = positions[:, :, None] + np.arange(cfg.kernel_width)[None, None, :]
            windows = np.take_along_axis(tokens, reads.reshape(len(tokens), -1), axis=1)
            windows = torch.from_numpy(windows.reshape(reads.shape)).to(self.device)
            pos = torch.from_numpy(positions).to(self.device)
            with torch.no_grad():
                pre = torch.einsum("bpwc,kcw->bpk", one_hot(windows), self.weight) + self.bias
                delta = torch.relu(pre) - self.activation[pos]
                delta = delta * torch.from_numpy(valid).to(self.device)[:, :, None] / cfg.pool
                bins = (pos // cfg.pool)[:, :, None].expand(-1, -1, cfg.kernels)
                pooled.scatter_add_(1, bins, delta)
        with torch.no_grad():
            score = model.head(pooled.transpose(1, 2)) * model.target_std + model.target_mean
        return score.double().cpu().numpy()


def ism_scores(cache: ReferenceCache, offsets: np.ndarray, alt_tokens: np.ndarray,
               batch_size: int = 256) -> np.ndarray:
    """ISM per SNV: score(reference with the ALT at `offsets[v]`) - score(reference)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    out = np.empty(len(offsets))
    for start in range(0, len(offsets), batch_size):
        o = offsets[start : start + batch_size]
        seqs = np.broadcast_to(cache.ref, (len(o), len(cache.ref))).copy()
        seqs[np.arange(len(o)), o] = np.asarray(alt_tokens, dtype=np.uint8)[start : start + batch_size]
        out[start : start + len(o)] = cache.scores(seqs, batch_size=len(o)) - cache.score
    return out


def grad_x_input(model: SimpleCNN, ref_tokens: np.ndarray, offsets: np.ndarray,
                 alt_tokens: np.ndarray) -> np.ndarray:
    """Gradient of the score w.r.t. the one-hot reference, ALT channel minus REF channel, per SNV."""
    param = next(model.parameters())
    ref = np.asarray(ref_tokens, dtype=np.uint8)
    x = one_hot(torch.from_numpy(ref[None]).to(param.device)).to(param.dtype).requires_grad_(True)
    with torch.enable_grad():
        model(x).sum().backward()
    grad = x.grad[0].double().cpu().numpy()  # (window, 4)
    offsets = np.asarray(offsets, dtype=np.int64)
    alt = np.asarray(alt_tokens, dtype=np.int64)
    ref_at = ref[offsets].astype(np.int64)
    # An N reference base has no channel of its own: its one-hot row is all zero.
    ref_grad = np.where(ref_at < 4, grad[offsets, np.minimum(ref_at, 3)], 0.0)
    return grad[offsets, alt] - ref_grad
