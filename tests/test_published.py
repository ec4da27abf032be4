"""Import of the published Sasse et al. 2023 results (data/published/), against the paper's numbers."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import PUBLISHED_SOURCE, ROOT
from statsmodels.stats.multitest import multipletests

from compute.cli import main
from compute.errors import InputError
from compute.store import GENE_COLUMNS, NULL_COLUMNS, PEOPLE_COLUMNS, VARIANT_COLUMNS, ResultsStore
from compute.store.published import SOURCE_FILES, TABLE1, TABLE2, import_published

PUBLISHED = ROOT / "data" / "published"
SOURCE = PUBLISHED_SOURCE
DDX11 = "ENSG00000013573"
GSTM3 = "ENSG00000134202"
TABLES = ("genes", "variants", "people", "null", "population", "drivers")


@pytest.fixture(scope="module")
def store() -> ResultsStore:
    return ResultsStore(PUBLISHED)


@pytest.fixture(scope="module")
def genes(store) -> pd.DataFrame:
    return store.genes()


def copy_source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(SOURCE, src)
    return src


def edit_line(path: Path, number: int, edit) -> None:
    lines = path.read_text().split("\n")
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("\n".join(lines))


# ----- reproducibility ------------------------------------------------------------------


def test_rebuild_reproduces_the_committed_store(tmp_path):
    rebuilt = import_published(SOURCE, tmp_path / "store")
    for name in TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(rebuilt.path / f"{name}.parquet"), pd.read_parquet(PUBLISHED / f"{name}.parquet")
        )
    assert rebuilt.manifest == json.loads((PUBLISHED / "manifest.json").read_text())
    for name in SOURCE_FILES:
        assert (rebuilt.path / "source" / name).read_bytes() == (SOURCE / name).read_bytes()
    assert sorted(p.name for p in rebuilt.path.iterdir()) == sorted(
        ["source", "manifest.json", *(f"{t}.parquet" for t in TABLES)]
    )


def test_import_in_place_from_the_store_source(tmp_path):
    """`import-published DIR/source DIR` works: the sources are not copied onto themselves."""
    first = import_published(SOURCE, tmp_path / "store")
    before = (first.path / "genes.parquet").read_bytes()
    again = import_published(first.path / "source", first.path)
    pd.testing.assert_frame_equal(again.genes(), pd.read_parquet(PUBLISHED / "genes.parquet"))
    assert (first.path / "genes.parquet").read_bytes() == before


def test_sources_are_unmodified(store):
    # the manifest's checksums were taken from the paper's files when they were imported
    assert set(SOURCE_FILES) <= set(store.manifest["sources"])
    for name, entry in store.manifest["sources"].items():
        data = (SOURCE / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["bytes"]


def test_manifest_says_what_is_missing(store):
    manifest = store.manifest
    assert manifest["dataset"] == "published"
    assert manifest["licence"] == "GPL-3.0"
    assert "doi:10.1038/s41588-023-01524-6" in manifest["citation"]
    assert manifest["has_people"] is False
    assert manifest["has_null_draws"] is False
    assert manifest["has_all_variants"] is False
    assert manifest["model"]["track_index"] == 4980
    assert manifest["cohort"]["n_people"] == 839
    assert manifest["statistics"]["null_convention"] == "published"
    assert "GPL-3.0" in (SOURCE / "SOURCE.md").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in (PUBLISHED / "LICENSE-GPL-3.0.txt").read_text()


# ----- the paper's numbers --------------------------------------------------------------


def test_ddx11_one_supported_driver_near_the_tss(store, genes):
    gene = genes.set_index("gene_id").loc[DDX11]
    assert gene["gene_name"] == "DDX11"
    assert gene["r"] == pytest.approx(0.846)
    assert gene["n_drivers"] == 1
    assert gene["significant"]
    drivers = store.variants(DDX11)
    assert len(drivers) == 1
    driver = drivers.iloc[0]
    assert driver["tss_distance"] == 56 and driver["tss_distance_stranded"] == 56  # '+' strand
    assert driver["ism"] < 0 and driver["eqtl_slope"] < 0
    assert driver["supported"] and driver["is_main_driver"]
    assert driver["variant_id"] == "chr12:31073901"
    assert driver["is_susie_brain"]  # the fine-mapped GTEx brain variant sits on the driver


def test_gstm3_common_drivers_unsupported(store, genes):
    gene = genes.set_index("gene_id").loc[GSTM3]
    assert gene["r"] == pytest.approx(-0.492)
    assert gene["strand"] == "-"
    drivers = store.variants(GSTM3).set_index("tss_distance")
    assert sorted(drivers.index) == [-688, -77, 125]
    common = drivers.loc[[-688, 125]]
    assert (common["carrier_fraction"] > 0.79).all()
    assert not common["supported"].any()
    assert (common["ism"] < 0).all() and (common["eqtl_slope"] > 0).all()
    assert drivers["is_main_driver"].tolist() == [False, False, True]  # sorted: -688, -77, +125
    rare = drivers.loc[-77]
    assert rare["n_carriers"] == 1 and rare["supported"]
    assert drivers.loc[125, "tss_distance_stranded"] == -125  # upstream on the '-' strand


def test_counts(store, genes):
    assert len(genes) == 6820 and genes["gene_id"].is_unique
    assert (genes["n_people"] == 839).all()
    drivers = store.drivers()
    assert len(drivers) == 1091
    assert drivers["gene_id"].nunique() == 251
    assert genes["n_drivers"].sum() == 1091 and (genes["n_drivers"] > 0).sum() == 251
    # One main driver per gene, the one with the largest gain (DESIGN §5).
    mains = drivers[drivers["is_main_driver"]]
    assert mains["gene_id"].is_unique and len(mains) == 251
    best = drivers.loc[drivers.groupby("gene_id")["driver_gain"].idxmax()]
    assert best["is_main_driver"].all()
    # Every driver gene is significant.
    assert genes.set_index("gene_id").loc[mains["gene_id"], "significant"].all()


def test_store_columns(store):
    for name, columns in zip(
        TABLES[:4], [GENE_COLUMNS, VARIANT_COLUMNS, PEOPLE_COLUMNS, NULL_COLUMNS], strict=True
    ):
        frame = pd.read_parquet(PUBLISHED / f"{name}.parquet")
        assert frame.columns[: len(columns)].tolist() == columns
    assert store.people(DDX11).empty and store.null(DDX11).empty


def test_recomputed_null_pvalues_match_published(genes):
    """DESIGN §5 `published` convention, computed here with scipy and statsmodels."""
    t = (genes["r"].abs() - genes["null_mean"]) / np.sqrt(genes["null_std"] / 50)
    p = pd.Series(np.where(t < 0, 1.0, scipy.stats.t.sf(t.abs(), 49)), index=genes.index)
    p[t.isna()] = np.nan
    known = t.notna() & genes["t_null"].notna()
    assert known.sum() == 6806
    # Published t and -log10 p are rounded to 3 decimals.
    assert np.abs(t[known] - genes["t_null"][known]).max() <= 0.0005 + 1e-9
    assert np.abs(np.log10(p[known]) - np.log10(genes["p_null"][known])).max() <= 0.0005 + 1e-9
    # BH over all genes, a gene without p counting as p = 1 (what reproduces the paper).
    q = pd.Series(multipletests(p.fillna(1.0), method="fdr_bh")[1], index=genes.index)
    assert np.abs(np.log10(q) - np.log10(genes["q_bh"])).max() <= 0.0005 + 1e-9
    significant = q < 0.05
    assert significant.sum() == 599
    assert (significant & (genes["r"] < 0)).sum() == 195
    assert (significant == genes["significant"]).all()


def test_pearson_p_consistent_with_rounded_r(genes):
    known = genes[genes["r"].notna()]

    def p_of(r):
        t = r * np.sqrt((839 - 2) / (1 - r**2))
        return 2 * scipy.stats.t.sf(np.abs(t), 839 - 2)

    lowest = p_of(known["r"].abs() + 0.0005)
    highest = p_of((known["r"].abs() - 0.0005).clip(lower=0))
    assert (known["p_r"] >= lowest - 0.0005 - 1e-9).all()
    assert (known["p_r"] <= highest + 0.0005 + 1e-9).all()


def test_other_published_files_agree_with_table1(genes):
    by_id = genes.set_index("gene_id")
    stats = pd.read_csv(
        SOURCE / "Prediction_correlationsCageAdultBrain_Allstats.txt", sep=" ", skiprows=1, header=None
    ).set_index(0)
    pd.testing.assert_series_equal(
        stats[1].loc[by_id.index], by_id["r"], check_names=False, check_index=False
    )
    predixcan = pd.read_csv(
        SOURCE / "PrediXcanCorrelationWithExpressionENSG.tsv", sep="\t", header=None
    ).drop_duplicates(0)
    predixcan = predixcan.set_index(0)[1]
    shared = by_id.index.intersection(predixcan.index)
    assert len(shared) == 6820
    pd.testing.assert_series_equal(
        predixcan.loc[shared], by_id.loc[shared, "predixcan_r"], check_names=False, check_index=False
    )


def test_driver_columns(store):
    drivers = store.drivers()
    genes = store.genes().set_index("gene_id")
    strand = genes.loc[drivers["gene_id"], "strand"].to_numpy()
    tss = genes.loc[drivers["gene_id"], "tss"].to_numpy()
    assert (drivers["tss_distance"] == drivers["pos"] - tss).all()
    flip = np.where(strand == "-", -1, 1)
    assert (drivers["tss_distance_stranded"] == drivers["tss_distance"] * flip).all()
    # Supported where ISM and eQTL slope agree in sign; unknown where no eQTL could be fitted.
    undefined = drivers["eqtl_slope"].isna()
    assert undefined.sum() == 11 and drivers.loc[undefined, "supported"].isna().all()
    fitted = drivers[~undefined]
    assert (fitted["supported"] == (np.sign(fitted["ism"]) == np.sign(fitted["eqtl_slope"]))).all()
    assert fitted["supported"].sum() == 687
    assert drivers["ref"].isna().all() and drivers["alt_freq"].isna().all()
    assert drivers.loc[drivers["is_main_driver"], "locus_ref_ism_over_max"].notna().all()
    assert drivers.loc[~drivers["is_main_driver"], "locus_ref_ism_over_max"].isna().all()


# ----- bad inputs -----------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        import_published(tmp_path / "absent", tmp_path / "out")


def test_missing_file(tmp_path):
    src = copy_source(tmp_path)
    (src / TABLE2).unlink()
    with pytest.raises(InputError, match=f"missing {TABLE2}"):
        import_published(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_short_row_names_file_and_line(tmp_path):
    src = copy_source(tmp_path)
    edit_line(src / TABLE1, 5, lambda line: line.rsplit("\t", 1)[0])
    with pytest.raises(
        InputError, match=rf"{TABLE1}, line 5: expected 25 fields separated by tabs, found 24"
    ):
        import_published(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_number_names_column_and_line(tmp_path):
    src = copy_source(tmp_path)
    edit_line(src / TABLE2, 4, lambda line: line.replace("\t-3.13881\t", "\tminus3\t"))
    with pytest.raises(
        InputError, match=rf"{TABLE2}, line 4: column 'ISM': expected a number, found 'minus3'"
    ):
        import_published(src, tmp_path / "out")


def test_wrong_header(tmp_path):
    src = copy_source(tmp_path)
    edit_line(src / TABLE1, 1, lambda line: line.replace("RmeanRandom", "Rmean"))
    with pytest.raises(InputError, match=rf"{TABLE1}, line 1: expected the 25 columns"):
        import_published(src, tmp_path / "out")


def test_driver_of_unknown_gene(tmp_path):
    src = copy_source(tmp_path)
    edit_line(src / TABLE2, 4, lambda line: line.replace(DDX11, "ENSG00000999999"))
    with pytest.raises(InputError, match=rf"{TABLE2}, line 4: gene ENSG00000999999 is not in {TABLE1}"):
        import_published(src, tmp_path / "out")


def test_cli(tmp_path, capsys):
    assert main(["import-published", str(SOURCE), str(tmp_path / "store")]) == 0
    assert "6820 genes (599 significant), 1091 drivers in 251 genes" in capsys.readouterr().out
    assert main(["import-published", str(tmp_path / "absent"), str(tmp_path / "x")]) == 2
    assert "absent: no such folder" in capsys.readouterr().err
