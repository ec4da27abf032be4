"""The dashboard in headless Chromium: loads clean, search, linked clicks, URL state, exports, screenshots.

One server (a thread on 127.0.0.1, free port) and one browser for the module.
The first dataset is the shipped published store when present, else a
synthetic store shaped like it (genes + drivers only, a gene named DDX11).
"""

import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest

from benchmarks.synthetic_store import make_synthetic_store
from tests.waiting import search_option, text_of, wait_until

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "data" / "published"
DEMO = ROOT / "data" / "demo"
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    if (PUBLISHED / "manifest.json").is_file():
        first = PUBLISHED
    else:
        first = base / "published"
        make_synthetic_store(first, n_genes=400, n_people=100, n_snvs=60, seed=11, with_people=False)
    demo = base / "synthetic"
    make_synthetic_store(demo, n_genes=120, n_people=300, n_snvs=400, seed=12, with_genotypes=True)
    return [first, demo, DEMO]


@pytest.fixture(scope="module")
def site(stores, tmp_path_factory):
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing: run `bash scripts/setup.sh --test`")
    from app import create_app
    from docs.screenshots import chromium, serve

    downloads = tmp_path_factory.mktemp("downloads")
    app = create_app(stores)
    with serve(app) as url, chromium(downloads) as driver:
        driver.set_page_load_timeout(30)
        yield {"url": url, "driver": driver, "downloads": downloads, "app": app}


def settle(driver):
    from docs.screenshots import wait_for_figures

    wait_for_figures(driver)


def severe_logs(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def card_gene(driver):
    return text_of(driver, "card-gene-name")


def test_loads_without_console_errors(site):
    driver = site["driver"]
    driver.get(site["url"] + "/")
    settle(driver)
    assert "No gene selected" in text_of(driver, "card-content")
    assert severe_logs(driver) == []
    # every request the page made went to this server
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(site["url"]) for u in urls), urls


def test_search_ddx11_shows_its_card(site):
    driver = site["driver"]
    driver.get(site["url"] + "/")
    settle(driver)
    search_option(driver, "DDX1", "DDX11 ").click()
    wait_until(lambda: card_gene(driver) == "DDX11")
    assert "/gene/DDX11" in driver.current_url
    settle(driver)
    card = text_of(driver, "card-content")
    assert "r (predicted vs observed)" in card and "Driver SNVs" in card
    assert severe_logs(driver) == []


def volcano_top_point(driver):
    """The volcano's highest significant point with r > 0: gene, id, and its offset (x, y) in the
    plot's drag area of size (w, h); None until that point lies inside the window."""
    return driver.execute_script(
        """
        const gd = document.querySelector('#volcano-graph .js-plotly-plot');
        if (!gd || !gd._fullLayout || !gd.data || !gd.data[1] || !gd.data[1].y.length) return null;
        const t = gd.data[1];  // significant, r > 0
        let best = 0;
        for (let i = 1; i < t.y.length; i++) { if (t.y[i] > t.y[best]) best = i; }
        const fl = gd._fullLayout, s = fl._size;
        const drag = gd.querySelector('.nsewdrag').getBoundingClientRect();
        const x = s.l + fl.xaxis.l2p(t.x[best]) - (drag.left - gd.getBoundingClientRect().left);
        const y = s.t + fl.yaxis.l2p(t.y[best]) - (drag.top - gd.getBoundingClientRect().top);
        const onScreen = drag.left + x >= 0 && drag.left + x < window.innerWidth
            && drag.top + y >= 0 && drag.top + y < window.innerHeight;
        return onScreen ? {gene: t.customdata[best][1], id: t.customdata[best][0],
                           x: x, y: y, w: drag.width, h: drag.height} : null;
        """
    )


def hovered_ids(driver, panel):
    """The gene ids (customdata[0]) of the points plotly hovers in the panel's graph now."""
    return driver.execute_script(
        "const gd = document.querySelector('#' + arguments[0] + '-graph .js-plotly-plot');"
        "return ((gd && gd._hoverdata) || []).map(p => p.customdata ? String(p.customdata[0]) : null);",
        panel,
    )


def test_volcano_click_selects_gene_and_url_and_back_works(site):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains

    driver = site["driver"]
    driver.get(site["url"] + "/gene/DDX11")
    settle(driver)
    graph = driver.find_element("id", "volcano-graph")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph)
    target = wait_until(lambda: volcano_top_point(driver), "the volcano's top significant point on screen")
    assert target["gene"] != "DDX11"
    dx, dy = target["x"] - target["w"] / 2, target["y"] - target["h"] / 2

    def hover_target():  # a click picks the point plotly hovers, so click once it hovers the target
        try:
            drag = driver.find_element("css selector", "#volcano-graph .nsewdrag")
            ActionChains(driver).move_to_element_with_offset(drag, dx, dy).perform()
        except StaleElementReferenceException:  # the graph redrew between finding and moving to it
            return False
        return hovered_ids(driver, "volcano")[:1] == [str(target["id"])]

    wait_until(hover_target, f"the pointer to hover {target['gene']} in the volcano")
    ActionChains(driver).click().perform()
    wait_until(lambda: card_gene(driver) == target["gene"])
    path = driver.current_url.split("?")[0]
    assert path.endswith(f"/gene/{target['gene']}") or path.endswith(f"/gene/{target['id']}")
    driver.back()
    wait_until(lambda: card_gene(driver) == "DDX11")
    assert "/gene/DDX11" in driver.current_url
    assert severe_logs(driver) == []


def test_snv_click_on_card_and_dataset_switch(site):
    driver = site["driver"]
    demo = site["app"].datasets.names[1]
    driver.get(f"{site['url']}/gene/GSTM3?dataset={demo}")
    settle(driver)
    buttons = driver.find_elements("css selector", "#card-drivers .snv-button")
    assert len(buttons) == 3
    chosen = [b for b in buttons if "selected" not in b.get_attribute("class")][0]
    snv = chosen.find_element("css selector", ".snv-id").text
    chosen.click()
    wait_until(lambda: f"snv={snv}" in driver.current_url)
    wait_until(lambda: snv in (text_of(driver, "card-snv") or ""))
    settle(driver)
    first = site["app"].datasets.names[0]
    driver.find_element("link text", first).click()
    wait_until(lambda: f"dataset={first}" in driver.current_url)
    settle(driver)
    wait_until(lambda: "no per-person predictions" in (text_of(driver, "expression-note") or ""))
    assert severe_logs(driver) == []


@pytest.mark.parametrize(
    "path, text",
    [
        ("/gene/..%2F..%2Fetc", "not a gene name or ID"),
        ("/gene/NOSUCHGENE", "No gene 'NOSUCHGENE'"),
        ("/no/such/page", "not a view of the dashboard"),
        ("/gene/DDX11?dataset=..%2Fsecret", "no dataset called"),
    ],
)
def test_bad_url_shows_a_message(site, path, text):
    driver = site["driver"]
    driver.get(site["url"] + path)
    message = wait_until(lambda: text_of(driver, "app-message"))
    assert text in message
    settle(driver)
    assert severe_logs(driver) == []


def test_csv_and_svg_exports_download_files(site):
    driver = site["driver"]
    downloads = site["downloads"]
    demo = site["app"].datasets.names[1]
    driver.get(f"{site['url']}/gene/DDX11?dataset={demo}")
    settle(driver)
    for button, pattern in [("ism_eqtl-csv", "ism_eqtl_*.csv"), ("volcano-svg", "volcano.svg")]:
        element = driver.find_element("id", button)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()
        files = wait_until(lambda p=pattern: [f for f in downloads.glob(p) if f.stat().st_size > 0])
        text = files[0].read_text()
        assert len(text) > 100
    csv = next(downloads.glob("ism_eqtl_*.csv")).read_text().splitlines()
    assert csv[0].startswith("variant_id,") and len(csv) > 100
    assert "<svg" in next(downloads.glob("volcano.svg")).read_text()[:500]


def test_gene_subset_filters_volcano_and_its_csv(site):
    driver = site["driver"]
    downloads = site["downloads"]
    first = site["app"].datasets.names[0]
    genes = site["app"].datasets.genes(first)
    mask = site["app"].datasets.subset_mask(first, "test_set")
    driver.get(f"{site['url']}/gene/DDX11?dataset={first}")
    settle(driver)
    wait_until(lambda: f"of {len(genes):,} genes" in (text_of(driver, "filter-count") or ""))
    labels = driver.find_elements("css selector", "#filter-subset label")
    option = [e for e in labels if "test set" in e.text][0]
    option.click()
    wait_until(lambda: text_of(driver, "filter-count") == f"{int(mask.sum()):,} of {len(genes):,} genes")
    wait_until(lambda: "Enformer test set" in (text_of(driver, "tss_hist-note") or ""))
    subset_note = f"{int(mask.sum()):,} genes (Enformer test set)"
    wait_until(lambda: subset_note in (text_of(driver, "sensitivity-note") or ""))
    assert text_of(driver, "sensitivity-summary")  # the panel's third output follows the filter too
    settle(driver)
    points = driver.execute_script(
        "const gd = document.querySelector('#volcano-graph .js-plotly-plot');"
        "return gd.data.slice(0, 3).reduce((n, t) => n + t.x.length, 0);"
    )
    assert points == int(mask.sum())
    button = driver.find_element("id", "volcano-csv")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    files = wait_until(lambda: [f for f in downloads.glob(f"volcano_{first}_*.csv") if f.stat().st_size > 0])
    assert len(files[0].read_text().splitlines()) == int(mask.sum()) + 1
    labels = driver.find_elements("css selector", "#filter-subset label")
    all_genes = [e for e in labels if "All" in e.text][0]
    all_genes.click()  # leave the session's filter as it was
    wait_until(lambda: text_of(driver, "filter-count") == f"{len(genes):,} of {len(genes):,} genes")
    assert severe_logs(driver) == []


@pytest.mark.slow
def test_screenshots_of_every_view(site, tmp_path):
    from docs.screenshots import PANELS, take_screenshots

    demo = site["app"].datasets.names[1]
    saved = take_screenshots(site["driver"], site["url"], "DDX11", tmp_path, dataset=demo)
    assert {p.stem for p in saved} == {"dashboard", *PANELS}
    for path in saved:
        assert path.stat().st_size > 5_000, path
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path in saved:
        shutil.copyfile(path, SCREENSHOTS / path.name)


@pytest.mark.slow
def test_models_view_on_the_demo_stores(tmp_path):
    """`python app.py`'s demo stores side by side in the models view (Enformer and AlphaGenome);
    saved as docs/screenshots/models.png."""
    from app import create_app
    from docs.screenshots import chromium, serve, take_models_screenshot

    app = create_app([DEMO, ROOT / "data" / "demo-alphagenome"])
    with serve(app) as url, chromium() as driver:
        path = take_models_screenshot(driver, url, "RTN4R", tmp_path, "demo")
        assert "B: demo-alphagenome (alphagenome rna_seq" in text_of(driver, "models-note")
        assert any(t.startswith("significant in") for t in legend_texts(driver, "models"))
        assert "Drivers of ENSG00000040608, A and B" in text_of(driver, "models-drivers")
        assert severe_logs(driver) == []
    assert path.stat().st_size > 5_000
    shutil.copyfile(path, SCREENSHOTS / "models.png")


def legend_texts(driver, panel):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + '-graph .legendtext'))"
        ".map(e => e.textContent);",
        panel,
    )


@pytest.mark.slow
def test_demo_ld_legend_reference_marker_and_held_out_people(site):
    """On the shipped demo store: the LD views say r² in their legend and mark the reference SNV,
    a click on another SNV makes it the reference, and the held-out people are marked."""
    driver = site["driver"]
    driver.get(f"{site['url']}/gene/RTN4R?dataset=demo")
    wait_until(
        lambda: card_gene(driver) == "RTN4R" and "Selected SNV: " in (text_of(driver, "card-snv") or "")
    )

    def views_follow_the_selected_snv():  # its selection may land after the first figures settled
        snv = (text_of(driver, "card-snv") or "").removeprefix("Selected SNV: ")
        ld_views = all(
            f"with {snv} among" in (text_of(driver, f"{panel}-note") or "")
            and "LD reference: the selected SNV" in legend_texts(driver, panel)
            for panel in ("locus", "ism_eqtl")
        )
        held_out = any(t.startswith("held-out people") for t in legend_texts(driver, "expression"))
        return ld_views and held_out and snv

    snv = wait_until(views_follow_the_selected_snv, "the LD and expression views of RTN4R's selected SNV")
    settle(driver)
    for panel in ("locus", "ism_eqtl"):
        legend = legend_texts(driver, panel)
        assert any(t.startswith("LD r² 0.8–1") for t in legend), legend
        assert "LD reference: the selected SNV" in legend, legend
        assert f"LD (r² of genotype dosages) with {snv} among this dataset's 839 people" in text_of(
            driver, f"{panel}-note"
        )
    legend = legend_texts(driver, "expression")
    assert (
        "held-out people (never seen) (126)" in legend
        and "training people (model fit on them) (587)" in legend
    )
    assert "held-out people (n = 126)" in text_of(driver, "card-r")
    assert "including the model's training people" in text_of(driver, "card-r-all")
    driver.save_screenshot(str(SCREENSHOTS / "demo.png"))
    # a click on an SNV in strong LD (the card lists them) makes it the LD reference
    driver.get(f"{site['url']}/gene/ARVCF?dataset=demo")
    settle(driver)
    # the card re-renders when ARVCF's selection lands, after the figures may have settled
    wait_until(
        lambda: "ARVCF" in (card_gene(driver) or "") and driver.find_elements("css selector", "#card-ld-list")
    )
    partners = driver.find_elements("css selector", "#card-ld-list .snv-button")
    assert len(partners) == 4
    target = partners[-1].find_element("css selector", ".snv-id").text
    partners[-1].click()
    wait_until(lambda: f"snv={target}" in unquote(driver.current_url))
    wait_until(lambda: f"with {target} among" in (text_of(driver, "locus-note") or ""))
    assert target in text_of(driver, "card-snv")
    assert severe_logs(driver) == []
