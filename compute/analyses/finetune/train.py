"""Fine-tune Enformer on paired personal genomes and expression (issue 9).

Published work (Rastogi et al. 2024; Drusinsky et al. 2024; Huang et al. 2023)
trains on personal haplotype sequences with the people split into train /
validation / test: accuracy on held-out people of the training genes rises to
about that of linear eQTL models, while held-out genes gain nothing. This module
trains one gene score (a track of the human head, or a new one-track head) on
the training people of the training genes:

- a step takes one gene and a sample of its training people, runs the model on
  their distinct haplotypes only, averages each person's two haplotype scores
  (the person score of DESIGN §4) and compares them with the people's z-scored
  expression: MSE of the centred values, and/or a pairwise logistic ranking loss;
- gradients accumulate over `accumulate` genes per optimiser step;
- after every epoch the validation people give r per training gene; the weights
  of the best epoch (mean validation r) are written with `save_weights`, so
  `--weights MODEL_DIR` works in precompute, and a checkpoint allows resuming.

Batch-norm layers keep their running statistics (a batch of one gene's
haplotypes is nearly one sequence, its statistics would be meaningless).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from compute.analyses.finetune.data import GeneData, Split, gene_data, make_split, people_index
from compute.cohort.inputs import Cohort
from compute.engine.catalog import MODEL_NAMES
from compute.engine.model import Model, ModelSpec, member_bins, one_hot, summarise
from compute.engine.models import save_weights
from compute.errors import InputError, ModelError
from compute.run.settings import DEFAULT_TRACK
from compute.stats.correlation import pearson

LOSSES = ("mse", "rank", "mse+rank")
LR_SCHEDULES = ("constant", "cosine")
CHECKPOINT = "checkpoint.pt"
RECORD = "finetune.json"


@dataclass(frozen=True)
class FinetuneOptions:
    """Everything that decides a fine-tuning run (recorded in MODEL_DIR/finetune.json)."""

    window: int | None = None  # None: the model's own window
    track: int = DEFAULT_TRACK
    new_head: str | None = None  # train a new one-track head of this name instead of `track`
    summary: str = "sum_log"
    loss: str = "mse"
    rank_weight: float = 1.0
    freeze_trunk: bool = False
    dropout: bool = False  # the model's dropout while training; off, it would blur haplotype differences
    precision: str = "fp32"
    epochs: int = 10
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"  # cosine: decays to 0 over all epochs' optimiser steps
    weight_decay: float = 0.0
    people_per_step: int = 64  # training people of one gene per step; 0 = all
    accumulate: int = 1  # genes per optimiser step
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    test_gene_fraction: float = 0.2
    seed: int = 0

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise InputError(f"--loss {self.loss!r}: expected one of {', '.join(LOSSES)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"--lr-schedule {self.lr_schedule!r}: expected one of {', '.join(LR_SCHEDULES)}")
        if self.precision not in ("fp32", "bf16"):
            raise InputError(f"--precision {self.precision!r}: expected fp32 or bf16")
        for name in ("epochs", "accumulate"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name} {getattr(self, name)}: expected at least 1")
        if self.people_per_step < 0 or self.people_per_step == 1:
            raise InputError(f"--people-per-step {self.people_per_step}: expected 0 (all) or at least 2")
        if self.learning_rate <= 0:
            raise InputError(f"--lr {self.learning_rate}: expected a positive learning rate")

    def resumable_with(self, other: FinetuneOptions) -> bool:
        """Same run apart from the number of epochs (which a cosine schedule depends on)."""
        if self.lr_schedule != "constant":
            return self == other
        return replace(self, epochs=0) == replace(other, epochs=0)

    def learning_rate_at(self, step: int, total_steps: int) -> float:
        """Learning rate of optimiser step `step` (0-based) of `total_steps`."""
        if self.lr_schedule == "cosine":
            return self.learning_rate * 0.5 * (1.0 + float(np.cos(np.pi * step / total_steps)))
        return self.learning_rate


@dataclass
class FinetuneResult:
    model: Model
    spec: ModelSpec
    split: Split
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0


# --------------------------------------------------------------------------- the model


def prepare(model: Model, options: FinetuneOptions) -> tuple[Model, ModelSpec]:
    """Window, head and trainable parameters set as the options say; returns the scoring spec."""
    if options.window is not None:
        model = model.with_window(options.window)
    if options.new_head:
        model.add_head(options.new_head, options.track)
        spec = ModelSpec(track=0, head=options.new_head, summary=options.summary, precision=options.precision)
    else:
        spec = ModelSpec(track=options.track, summary=options.summary, precision=options.precision)
    model.resolve_bins(spec)  # checks track and head
    for p in model.net.parameters():
        p.requires_grad_(False)
    for p in model.head_parameters(spec.head) if options.freeze_trunk else model.net.parameters():
        p.requires_grad_(True)
    return model, spec


def trunk_embeddings(model: Model, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(B, L) tokens -> (B, bins, 2 * dim): what the heads read at the output bins."""
    return model.embed(model.trunk(one_hot(tokens, model.dtype)), positions)


def head_scores(model: Model, spec: ModelSpec, embeddings: torch.Tensor) -> torch.Tensor:
    """(B, bins, 2 * dim) -> (B,) gene scores: one track of the head, softplus, summary."""
    linear = model.head_linear(spec.head)
    value = F.linear(
        embeddings, linear.weight[spec.track : spec.track + 1], linear.bias[spec.track : spec.track + 1]
    )
    return summarise(F.softplus(value.squeeze(-1).float()), spec.summary)


def autocast(model: Model, spec: ModelSpec):
    if spec.precision == "bf16":
        return torch.autocast(model.device.type, dtype=torch.bfloat16)
    return torch.autocast(model.device.type, enabled=False)


# --------------------------------------------------------------------------- losses


def centred_mse(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the centred vectors (per-gene offsets do not matter)."""
    return ((predicted - predicted.mean()) - (target - target.mean())).pow(2).mean()


def pairwise_rank_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over ordered pairs (target_i > target_j) of log(1 + exp(-(predicted_i - predicted_j)))."""
    higher = target[:, None] > target[None, :]
    if not higher.any():
        return predicted.sum() * 0.0
    return F.softplus(-(predicted[:, None] - predicted[None, :])[higher]).mean()


def loss_value(options: FinetuneOptions, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = predicted.new_zeros(())
    if options.loss in ("mse", "mse+rank"):
        loss = loss + centred_mse(predicted, target)
    if options.loss in ("rank", "mse+rank"):
        loss = loss + options.rank_weight * pairwise_rank_loss(predicted, target)
    return loss


# --------------------------------------------------------------------------- scoring people


class Scorer:
    """Person scores of one gene, from the model or (frozen trunk) from cached embeddings."""

    def __init__(self, model: Model, spec: ModelSpec, freeze_trunk: bool, batch_size: int = 32):
        self.model, self.spec, self.batch_size = model, spec, batch_size
        self.positions = member_bins(model, model.resolve_bins(spec), rc=False)
        self.cache: dict[str, torch.Tensor] | None = {} if freeze_trunk else None

    def _embeddings(self, data: GeneData, rows: np.ndarray) -> torch.Tensor:
        if self.cache is not None:
            if data.gene_id not in self.cache:
                every = np.arange(len(data.codes))
                with torch.no_grad():
                    self.cache[data.gene_id] = self._run_trunk(data, every).detach()
            return self.cache[data.gene_id][torch.from_numpy(rows).to(self.model.device)]
        return self._run_trunk(data, rows)

    def _run_trunk(self, data: GeneData, rows: np.ndarray) -> torch.Tensor:
        out = []
        with autocast(self.model, self.spec):
            for i in range(0, len(rows), self.batch_size):
                tokens = torch.from_numpy(data.tokens(rows[i : i + self.batch_size])).to(self.model.device)
                out.append(trunk_embeddings(self.model, tokens, self.positions))
        return torch.cat(out)

    def people(self, data: GeneData, people_idx: np.ndarray) -> torch.Tensor:
        """(len(people_idx),) person scores: mean of each person's two haplotype scores."""
        haps = data.haplotype[people_idx]  # (n, 2) rows of data.codes
        rows, inverse = np.unique(haps, return_inverse=True)
        embeddings = self._embeddings(data, rows)
        with autocast(self.model, self.spec):
            scores = head_scores(self.model, self.spec, embeddings).float()
        per_hap = scores[torch.from_numpy(inverse.reshape(haps.shape)).to(scores.device)]
        return per_hap.mean(dim=1)


# --------------------------------------------------------------------------- training


def validation_r(scorer: Scorer, genes: list[GeneData], people_idx: np.ndarray) -> dict[str, float]:
    """Pearson r of person score and expression on `people_idx`, per gene."""
    scorer.model.train_mode(False)
    out = {}
    with torch.no_grad():
        for data in genes:
            score = scorer.people(data, people_idx).double().cpu().numpy()
            out[data.gene_id] = pearson(score, data.expression[people_idx])[0]
    return out


def _mean(values) -> float:
    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def finetune(
    cohort: Cohort,
    model: Model,
    options: FinetuneOptions,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> FinetuneResult:
    """Train, keep the best epoch by mean validation r, write it to `out_dir` (save_weights).

    `out_dir` also gets finetune.json (options, split, per-epoch history) and
    checkpoint.pt (the last epoch: weights, optimiser, random state), from which
    `resume=True` carries on; a run with other options refuses to resume.
    """
    options.check()
    out = Path(out_dir)
    checkpoint_path = out / CHECKPOINT
    if checkpoint_path.exists() and not resume:
        raise InputError(
            f"{out}: holds a fine-tuning checkpoint; pass --resume to carry on or use another --out"
        )
    if options.window is not None and options.window != cohort.window:
        raise InputError(f"window {options.window:,} bp: the cohort was loaded with {cohort.window:,} bp")
    model, spec = prepare(model, replace(options, window=cohort.window))
    split = make_split(
        cohort.people, cohort.genes["gene_id"].tolist(),
        validation_fraction=options.validation_fraction, test_fraction=options.test_fraction,
        test_gene_fraction=options.test_gene_fraction, seed=options.seed,
    )  # fmt: skip
    train_idx = people_index(cohort, split.train_people)
    val_idx = people_index(cohort, split.validation_people)
    genes = [gene_data(cohort, g, train_idx) for g in split.train_genes]

    params = [p for p in model.net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=options.weight_decay)
    scorer = Scorer(model, spec, options.freeze_trunk)
    rng = np.random.default_rng(options.seed)
    history: list[dict] = []
    best_r, best_epoch, first_epoch = -np.inf, 0, 1

    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=model.device, weights_only=False)
        saved = FinetuneOptions(**state["options"])
        if not options.resumable_with(saved):
            raise InputError(f"{checkpoint_path}: made with other options than these; use another --out")
        if state["split"] != asdict(split):
            raise InputError(
                f"{checkpoint_path}: made on another split of people and genes; use another --out"
            )
        model.net.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        history, best_r, best_epoch = state["history"], state["best_r"], state["best_epoch"]
        first_epoch = state["epoch"] + 1
        log(f"resuming after epoch {state['epoch']} (best validation r {best_r:.3f} at epoch {best_epoch})")
    else:
        torch.manual_seed(options.seed)
        r0 = validation_r(scorer, genes, val_idx)
        history.append({"epoch": 0, "loss": float("nan"), "validation_r": _mean(r0.values()),
                        "validation_r_per_gene": r0})  # fmt: skip
        best_r = history[0]["validation_r"] if np.isfinite(history[0]["validation_r"]) else -np.inf
        out.mkdir(parents=True, exist_ok=True)
        save_weights(model, out)

    steps_per_epoch = -(-len(genes) // options.accumulate)  # optimiser steps
    total_steps = options.epochs * steps_per_epoch
    bar = _progress(options.epochs, first_epoch - 1, progress)
    for epoch in range(first_epoch, options.epochs + 1):
        model.train_mode(options.dropout)
        losses = []
        order = rng.permutation(len(genes))
        optimiser.zero_grad(set_to_none=True)
        for step, g in enumerate(order, start=1):
            data = genes[g]
            people = train_idx
            if options.people_per_step and options.people_per_step < len(train_idx):
                people = np.sort(rng.choice(train_idx, options.people_per_step, replace=False))
            predicted = scorer.people(data, people)
            target = torch.from_numpy(data.zscores(people)).float().to(predicted.device)
            loss = loss_value(options, predicted, target)
            (loss / options.accumulate).backward()
            losses.append(float(loss.detach()))
            if step % options.accumulate == 0 or step == len(order):
                done = (epoch - 1) * steps_per_epoch + (step - 1) // options.accumulate
                for group in optimiser.param_groups:
                    group["lr"] = options.learning_rate_at(done, total_steps)
                optimiser.step()
                optimiser.zero_grad(set_to_none=True)
        r = validation_r(scorer, genes, val_idx)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "validation_r": _mean(r.values()),
                  "validation_r_per_gene": r}  # fmt: skip
        history.append(record)
        if record["validation_r"] > best_r:
            best_r, best_epoch = record["validation_r"], epoch
            save_weights(model, out)
        torch.save(
            {"epoch": epoch, "model": model.net.state_dict(), "optimiser": optimiser.state_dict(),
             "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "options": asdict(options),
             "split": asdict(split), "history": history, "best_r": best_r, "best_epoch": best_epoch},
            checkpoint_path,
        )  # fmt: skip
        _write_record(out, options, split, history, best_epoch, model.source)
        bar.set_postfix_str(
            f"loss {record['loss']:.3f} val r {record['validation_r']:.3f} (best {best_r:.3f})"
        )
        bar.update(1)
    bar.close()
    _write_record(out, options, split, history, best_epoch, model.source)
    best = load_finetuned(out, device=model.device)
    return FinetuneResult(model=best, spec=spec_of(out), split=split, history=history, best_epoch=best_epoch)


def _write_record(out: Path, options, split, history, best_epoch, source) -> None:
    from compute.store import write_json_atomic

    write_json_atomic(
        out / RECORD,
        {"options": asdict(options), "split": asdict(split), "history": history, "best_epoch": best_epoch,
         "started_from": source},
    )  # fmt: skip


def load_finetuned(out_dir: str | Path, device: str | torch.device = "auto") -> Model:
    """The best fine-tuned model of a run (an ordinary `load_model` directory)."""
    from compute.engine.models import load_model

    return load_model(out_dir, device=device)


def spec_of(out_dir: str | Path) -> ModelSpec:
    """The gene score a fine-tuned model was trained on (track or new head, summary)."""
    path = Path(out_dir) / RECORD
    if not path.is_file():
        raise InputError(f"{out_dir}: no {RECORD}; not a directory written by `python -m compute finetune`")
    options = FinetuneOptions(**json.loads(path.read_text())["options"])
    if options.new_head:
        return ModelSpec(track=0, head=options.new_head, summary=options.summary)
    return ModelSpec(track=options.track, summary=options.summary)


def read_split(out_dir: str | Path) -> Split:
    record = json.loads((Path(out_dir) / RECORD).read_text())
    return Split(**record["split"])


def _progress(total: int, done: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="epoch", disable=not enabled, dynamic_ncols=True)


def starting_model(weights: str | None, small: dict | None, window: int, device) -> Model:
    """The model fine-tuning starts from, taking `window` bp: local weights or a small random one."""
    from compute.engine.models import load_model, small_model, weights_kind

    # fine-tuning trains Enformer's linear output head and window: other models are refused in one line
    kind = None
    if small is not None:
        kind = small.get("model", "enformer")
    elif weights is not None and Path(weights).is_dir():
        kind = weights_kind(Path(weights))
    if kind not in (None, "enformer"):
        where = f"--weights {weights} holds" if small is None else "--small asks for"
        raise ModelError(f"{where} {MODEL_NAMES.get(kind, kind)} model: fine-tuning is Enformer's only")
    if small is not None:
        if weights is not None:
            raise ModelError("give either --weights or --small, not both")
        params = dict(small)
        seed = int(params.pop("seed", 0))
        params.setdefault("window", window)
        return small_model(seed, device=device, **params).with_window(window)
    return load_model(weights, device=device).with_window(window)


def run_finetune(
    files: dict[str, str],
    options: FinetuneOptions,
    out: str | Path,
    *,
    weights: str | None = None,
    small: dict | None = None,
    results: str | Path | None = None,
    stats=None,
    missing: str = "error",
    device: str = "auto",
    resume: bool = False,
    gradients: bool = True,
    progress: bool = True,
):
    """`python -m compute finetune`: load the cohort (window = options.window), train, and
    evaluate into the store `results` when given. Returns (FinetuneResult, ResultsStore or None)."""
    from compute.analyses.finetune.evaluate import evaluate
    from compute.cohort.inputs import load_cohort

    options.check()
    window = options.window
    if window is None:
        raise InputError("--window: give the input window in bp (e.g. 49152, as the published studies)")
    model = starting_model(weights, small, window, device)  # a model it cannot train refused first
    cohort = load_cohort(window=window, missing=missing, **files)
    cohort.refuse_missing_expression("finetune")  # its loss needs every training person's value
    result = finetune(cohort, model, options, out, resume=resume, progress=progress)
    store = None
    if results is not None:
        base = starting_model(weights, small, window, device)
        store = evaluate(
            cohort, files, result.split, (result.model, result.spec),
            (base, ModelSpec(track=options.track, summary=options.summary)), results,
            model_dir=str(out), stats=stats, gradients=gradients, progress=progress,
        )  # fmt: skip
    return result, store
