"""compute/analyses/logo_ism.py: ISM of every base around a SNV, against full forward passes of
mutated sequences."""

import numpy as np
import pandas as pd
import pytest

from compute.analyses.logo_ism import LOGO_COLUMNS, saturation_ism, store_logo_ism
from compute.cli import main
from compute.cohort.reference import gene_window
from compute.engine.model import ModelSpec, score_tokens
from compute.engine.models import save_weights, small_model
from compute.errors import InputError
from compute.store import GENE_COLUMNS, VARIANT_COLUMNS, ResultsStore

WINDOW = 4096


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return small_model(seed=2, device="cpu")


def mutated_scores(model, spec, ref, positions) -> np.ndarray:
    """score(ref with base b at p) - score(ref) by full forward passes, one sequence each."""
    seqs = []
    for p in positions:
        for b in range(4):
            seq = ref.copy()
            seq[p] = b
            seqs.append(seq)
    scores = score_tokens(model, np.stack(seqs), spec) - score_tokens(model, ref[None], spec)[0]
    return scores.reshape(len(positions), 4)


def test_saturation_ism_equals_full_forward_differences(model):
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 4, size=WINDOW).astype(np.uint8)
    ref[2050] = 4  # an N inside the flank
    spec = ModelSpec(summary="sum")
    matrix = saturation_ism(model, spec, ref, centre=2048, flank=3)
    positions = np.arange(2045, 2052)
    expected = mutated_scores(model, spec, ref, positions)
    known = ref[positions] < 4
    np.testing.assert_allclose(matrix[known], expected[known], atol=1e-5)
    assert np.isnan(matrix[positions == 2050]).all()
    assert (matrix[np.arange(7)[known], ref[positions][known]] == 0).all()
    assert np.abs(matrix[known]).max() > 1e-4  # the model sees these bases
    edge = saturation_ism(model, spec, ref, centre=1, flank=3)
    assert np.isnan(edge[:2]).all() and np.isfinite(edge[2:]).all()


def write_computed_store(tmp_path, model) -> tuple[ResultsStore, np.ndarray]:
    """A store laid out as precompute writes it: manifest with model, window and FASTA; genes; drivers."""
    rng = np.random.default_rng(1)
    sequence = "".join(rng.choice(list("ACGT"), size=12_000))
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chrT\n" + "\n".join(sequence[i : i + 60] for i in range(0, len(sequence), 60)) + "\n")
    weights = save_weights(model, tmp_path / "weights")
    store = ResultsStore.create(
        tmp_path / "store",
        {
            "dataset": "computed",
            "inputs": {"fasta": {"path": str(fasta)}},
            "model": {"weights": str(weights), "track": 4980, "summary": "sum_log", "shifts": []},
            "settings": {"window": WINDOW},
        },
    )
    genes = pd.DataFrame(
        {
            "gene_id": ["G1", "G2", "G3"],
            "gene_name": ["A", "B", "C"],
            "chrom": "chrT",
            "tss": [5000, 8000, 9000],
        }
    )
    store.write_table("genes", genes.reindex(columns=GENE_COLUMNS).assign(**genes))
    variants = pd.DataFrame(
        {
            "gene_id": ["G1", "G1", "G2", "G3", "G3"],
            "variant_id": ["chrT_5010", "chrT_4000", "chrT_8003", "chrT_9001", "chrT_9100"],
            "chrom": "chrT",
            "pos": [5010, 4000, 8003, 9001, 9100],
            "ism": [0.1, 0.9, 0.2, 0.1, -0.5],
            "is_driver": [True, False, True, False, False],
        }
    )
    store.write_table("variants", variants.reindex(columns=VARIANT_COLUMNS).assign(**variants))
    return store, np.frombuffer(sequence.encode(), dtype=np.uint8)


def test_store_command_writes_the_logo_table(tmp_path, model, capsys):
    store, _ = write_computed_store(tmp_path, model)
    assert main(["ism-logo", str(store.path), "--flank", "2", "--device", "cpu"]) == 0
    assert "ISM of 3 SNVs" in capsys.readouterr().out
    table = pd.read_parquet(store.path / "ism_logo.parquet")
    assert list(table.columns) == LOGO_COLUMNS and len(table) == 3 * 5
    # drivers, and the largest-|ISM| SNV of the gene without drivers (the dashboard's first choice)
    assert set(table.variant_id) == {"chrT_5010", "chrT_8003", "chrT_9100"}
    from compute.cohort.reference import Reference

    start0, end0 = gene_window(5000, WINDOW)
    ref = Reference(tmp_path / "ref.fa").tokens("chrT", start0, end0)
    centre = 5010 - 1 - start0
    rows = table.loc[table.variant_id == "chrT_5010"].sort_values("offset")
    assert "".join(rows.ref) == "".join("ACGT"[t] for t in ref[centre - 2 : centre + 3])
    expected = mutated_scores(model, ModelSpec(), ref, np.arange(centre - 2, centre + 3))
    np.testing.assert_allclose(rows[list("ACGT")].to_numpy(), expected, atol=1e-5)
    assert store.manifest["ism_logo"]["flank"] == 2


def test_store_without_model_record_is_refused(tmp_path):
    store = ResultsStore.create(tmp_path / "s", {"dataset": "published"})
    with pytest.raises(InputError, match="no model track and summary"):
        store_logo_ism(store.path)
    assert main(["ism-logo", str(store.path)]) == 2
