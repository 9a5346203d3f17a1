"""The web page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium) against a real server:
identify an uploaded photo and read the name on the page, enrol from the page, the people list with thumbnails,
a webcam snapshot (Chromium's fake camera), a phone-sized window; the screenshot goes to out/."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from serve_helpers import Server  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
OUT = Path(__file__).resolve().parents[1] / "out"


def _browser(*extra: str):  # type: ignore[no-untyped-def]
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium (pip install 'faceprint[browser-tests]')")
    if missing:
        msg = f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # .ci/run installs them: missing in CI is a failure, not a skip
        pytest.skip(msg)
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=412,915",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--no-first-run", *extra):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def server_key(gallery: Path) -> str:
    import json

    from typer.testing import CliRunner

    from faceprint.cli.app import app

    res = CliRunner().invoke(app, ["keys", "create", "--gallery", str(gallery), "--scope", "write", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["key"]


def test_page_identifies_enrols_and_lists_people(tmp_path: Path, lfw_subset: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))
    powell = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))
    server = Server("--gallery", str(tmp_path / "people.sqlite"))
    driver = None
    try:
        client = server.client()
        assert len(client.enroll("Tony Blair", blair[:3])["enrolled"]) >= 2
        driver = _browser()
        wait = WebDriverWait(driver, 60)
        driver.get(server.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        wait.until(lambda d: "Tony Blair" in d.find_element(By.ID, "people").text)
        assert not driver.find_element(By.ID, "gallery-box").is_displayed()  # one gallery: no gallery field
        # thumbnails of the enrolled faces come from /v1/faces/{id}/image
        wait.until(lambda d: all(d.execute_script("return arguments[0].naturalWidth", img) > 0
                                 for img in d.find_elements(By.CSS_SELECTOR, "#people .thumbs img")) and
                   d.find_elements(By.CSS_SELECTOR, "#people .thumbs img"))

        def upload(photo: Path) -> str:
            driver.execute_script("document.getElementById('results').innerHTML = ''")
            driver.find_element(By.ID, "file").send_keys(str(photo))
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .faces li.face .who"))
            return driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .who").text

        assert upload(blair[5]).startswith("Tony Blair ")
        assert "%" in driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .who").text
        unknown = upload(powell[1])
        assert unknown.startswith("UNKNOWN"), unknown

        # enrol the unknown face from the result
        driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .enrol input").send_keys("Colin Powell")
        driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .enrol button").click()
        wait.until(lambda d: "Enrolled as Colin Powell" in d.find_element(By.ID, "status").text)
        wait.until(lambda d: "Colin Powell" in d.find_element(By.ID, "people").text)
        # the result is refreshed after enrolling: the same photo now names him
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#results .faces li.face .who").text.startswith("Colin Powell "))
        assert len(client.person("Colin Powell")["faces"]) == 1
        assert upload(powell[2]).startswith("Colin Powell ")

        # a phone-sized screen: nothing wider than the window
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        OUT.mkdir(exist_ok=True)
        driver.save_screenshot(str(OUT / "service-page.png"))
        assert (OUT / "service-page.png").stat().st_size > 10_000

        # a webcam snapshot: Chromium's fake camera shows a test pattern, in which no face is found
        driver.find_element(By.ID, "camera").click()
        wait.until(lambda d: d.execute_script("return document.getElementById('video').videoWidth") > 0)
        driver.find_element(By.ID, "snap").click()
        wait.until(lambda d: "No face found" in d.find_element(By.ID, "status").text
                   or "face(s) found" in d.find_element(By.ID, "status").text)
        assert "error" not in driver.find_element(By.ID, "status").get_attribute("class")

        # once the server has keys, the page asks for one; typed once, it is kept for the tab (not across tabs)
        from selenium.webdriver.common.keys import Keys

        key = server_key(tmp_path / "people.sqlite")
        driver.refresh()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        wait.until(lambda d: "API key" in d.find_element(By.ID, "people").text)
        assert "Colin Powell" not in driver.find_element(By.ID, "people").text
        driver.find_element(By.ID, "key").send_keys(key, Keys.TAB)
        wait.until(lambda d: "Colin Powell" in d.find_element(By.ID, "people").text)
        driver.refresh()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        assert driver.find_element(By.ID, "key").get_attribute("value") == key
        wait.until(lambda d: "Colin Powell" in d.find_element(By.ID, "people").text)
        assert upload(blair[6]).startswith("Tony Blair ")
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def test_page_with_several_galleries(tmp_path: Path, lfw_subset: Path) -> None:
    """--galleries: the page shows a gallery field; a new gallery's faces are UNKNOWN and enrolling creates it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))
    server = Server("--galleries", str(tmp_path / "galleries"))
    driver = None
    try:
        driver = _browser()
        wait = WebDriverWait(driver, 60)
        driver.get(server.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        assert driver.find_element(By.ID, "gallery-box").is_displayed()
        driver.find_element(By.ID, "gallery").send_keys("staff", Keys.TAB)
        wait.until(lambda d: "empty" in d.find_element(By.ID, "people").text)
        driver.find_element(By.ID, "file").send_keys(str(blair[0]))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .faces li.face .who"))
        assert driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .who").text == "UNKNOWN"
        driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .enrol input").send_keys("Tony Blair")
        driver.find_element(By.CSS_SELECTOR, "#results .faces li.face .enrol button").click()
        wait.until(lambda d: "Tony Blair" in d.find_element(By.ID, "people").text)
        assert [p["name"] for p in server.client(gallery="staff").people()] == ["Tony Blair"]
        assert server.client().galleries() == ["staff"]
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def test_api_docs_render_offline(tmp_path: Path) -> None:
    """/docs (Swagger UI) and /redoc render every operation with no other host reachable: the browser resolves no
    name but the server's address, so a script or style from a CDN would leave the page blank."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    gallery = tmp_path / "people.sqlite"
    server_key(gallery)  # a server with keys: Swagger UI shows its Authorize button
    server = Server("--gallery", str(gallery))
    driver = None
    try:
        driver = _browser("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=1280,900")
        wait = WebDriverWait(driver, 60)
        import json
        import urllib.request

        with urllib.request.urlopen(server.url + "/openapi.json") as r:
            spec = json.load(r)
        n_ops = sum(len(item) for item in spec["paths"].values())
        driver.get(server.url + "/docs")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == n_ops)
        assert driver.find_elements(By.CSS_SELECTOR, ".btn.authorize"), "no Authorize button"
        assert "POST/v1/identify" in driver.find_element(By.ID, "operations-gallery-identify_v1_identify_post").text.replace("\n", "")
        driver.save_screenshot(str(OUT / "docs-offline.png")) if OUT.exists() else None
        driver.get(server.url + "/redoc")
        wait.until(lambda d: "/v1/people/{name}/faces" in d.find_element(By.TAG_NAME, "body").text)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "faceprint API" in body or "faceprint" in body
        assert "Enroll" in body and "Identify" in body
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def test_page_scales_labels_pages_and_deletes(tmp_path: Path, lfw_subset: Path) -> None:
    """With the page's own controls: several photos at once, each scaled to the card with labels inside the picture
    and apart; candidates, distance, threshold and what the percentage means; an error clears the results; a
    person's faces in pages, one deleted with its button; the people list searched and paged."""
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))
    putin = sorted((lfw_subset / "Vladimir_Putin").glob("*.jpg"))
    small = tmp_path / "small.jpg"
    Image.open(blair[7]).resize((139, 139)).save(small)  # a small photo: drawn to the card's width, not 139 px
    server = Server("--gallery", str(tmp_path / "people.sqlite"))
    driver = None
    try:
        client = server.client()
        assert client.enroll("Tony Blair", blair[:7])["enrolled"]
        client.enroll("Vladimir Putin", putin[1:3])
        for i in range(3):  # more people than... a search narrows the list
            client.enroll(f"Person {i}", [sorted((lfw_subset / d).glob("*.jpg"))[0] for d in ("Ariel_Sharon", "Hugo_Chavez", "Jacques_Chirac")][i:i + 1])
        n_blair = client.person("Tony Blair")["total"]
        driver = _browser("--window-size=1280,900")
        wait = WebDriverWait(driver, 90)
        driver.get(server.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")

        driver.find_element(By.ID, "file").send_keys("\n".join(str(p) for p in (small, putin[0], blair[8])))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .result canvas[data-labels]")) == 3)
        wait.until(lambda d: "in 3 photos" in d.find_element(By.ID, "status").text)
        for canvas in driver.find_elements(By.CSS_SELECTOR, "#results .result canvas"):
            w, h = float(canvas.get_attribute("data-width")), float(canvas.get_attribute("data-height"))
            stage = driver.execute_script("return arguments[0].parentElement.clientWidth", canvas)
            assert w >= 0.95 * stage or h >= 0.7 * driver.execute_script("return window.innerHeight"), (w, h, stage)
            labels = json.loads(canvas.get_attribute("data-labels"))
            for i, a in enumerate(labels):
                assert 0 <= a["x"] and a["x"] + a["w"] <= w + 0.5 and 0 <= a["y"] and a["y"] + a["h"] <= h + 0.5, a
                for b in labels[i + 1:]:
                    assert not (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]), (a, b)
        group = driver.find_elements(By.CSS_SELECTOR, "#results .result")[1]
        assert len(group.find_elements(By.CSS_SELECTOR, ".faces li.face")) >= 2  # the group photo: several labels
        first = driver.find_element(By.CSS_SELECTOR, "#results .result .faces li.face")
        assert first.find_element(By.CSS_SELECTOR, ".who").text.startswith("Tony Blair ")
        assert "distance" in first.find_element(By.CSS_SELECTOR, ".numbers").text
        assert "Tony Blair" in first.find_element(By.CSS_SELECTOR, ".candidates").text
        meaning = driver.find_element(By.CSS_SELECTOR, "#results .result .meaning")
        meaning.find_element(By.TAG_NAME, "summary").click()
        assert "Threshold" in meaning.text and len(meaning.text) > 100
        OUT.mkdir(exist_ok=True)
        driver.save_screenshot(str(OUT / "service-page-photos.png"))

        # an unreadable file: the earlier results go, the status says why
        bad = tmp_path / "not-a-photo.jpg"
        bad.write_bytes(b"this is text")
        driver.find_element(By.ID, "file").send_keys(str(bad))
        wait.until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
        assert "not-a-photo.jpg" in driver.find_element(By.ID, "status").text
        assert not driver.find_elements(By.CSS_SELECTOR, "#results .result")

        # a person's faces, a page at a time, and one deleted with its button
        person = driver.find_element(By.CSS_SELECTOR, "#people li.person[data-name='Tony Blair']")
        wait.until(lambda d: len(person.find_elements(By.CSS_SELECTOR, ".thumbs img")) == min(n_blair, 12))
        if n_blair > 12:
            person.find_element(By.CSS_SELECTOR, ".more-faces").click()
            wait.until(lambda d: len(person.find_elements(By.CSS_SELECTOR, ".thumbs img")) == n_blair)
        driver.execute_script("window.confirm = () => true")
        person.find_element(By.CSS_SELECTOR, ".thumb .delete-face").click()
        wait.until(lambda d: "Deleted a face of Tony Blair" in d.find_element(By.ID, "status").text)
        assert client.person("Tony Blair")["total"] == n_blair - 1
        wait.until(lambda d: f"{n_blair - 1} faces" in d.find_element(By.CSS_SELECTOR, "#people li.person[data-name='Tony Blair']").text)

        # the people list: searched by name
        driver.find_element(By.ID, "people-search").send_keys("person")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#people li.person")) == 3)
        assert driver.find_element(By.ID, "people-count").text == "(3)"
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        OUT.mkdir(exist_ok=True)
        driver.save_screenshot(str(OUT / "service-page-results.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def test_page_clusters_tab(tmp_path: Path, lfw_subset: Path) -> None:
    """The Clusters tab with its own buttons: unknown faces of uploads (--cluster-unknown) shown as a grid per
    cluster; merge, split, move a face to a cluster and to a person, not this person, name a cluster."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    blair = sorted((lfw_subset / "Tony_Blair").glob("*.jpg"))[:4]
    powell = sorted((lfw_subset / "Colin_Powell").glob("*.jpg"))[:3]
    server = Server("--gallery", str(tmp_path / "people.sqlite"), "--cluster-unknown")
    driver = None
    try:
        client = server.client()
        for p in blair + powell:
            client.identify(p)
        start = client.clusters()["clusters"]
        assert len(start) >= 2 and start[0]["size"] >= 3
        driver = _browser("--window-size=1200,1000")
        wait = WebDriverWait(driver, 60)
        driver.get(server.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        assert not driver.find_element(By.ID, "clusters-section").is_displayed()

        def stamp() -> str:
            return driver.find_element(By.TAG_NAME, "body").get_attribute("data-clusters") or ""

        def after(action) -> str:  # type: ignore[no-untyped-def]
            """Run a click and wait for the list it refreshes; returns the status line."""
            before = stamp()
            action()
            wait.until(lambda d: stamp() != before)
            return driver.find_element(By.ID, "cluster-status").text

        def card(cid: int):  # type: ignore[no-untyped-def]
            return driver.find_element(By.CSS_SELECTOR, f'#clusters li.cluster[data-id="{cid}"]')

        def select_faces(cid: int, ids: list[int]) -> None:
            for fid in ids:
                card(cid).find_element(By.CSS_SELECTOR, f'.thumb[data-face="{fid}"] img').click()

        after(lambda: driver.find_element(By.ID, "tab-clusters").click())
        assert driver.find_element(By.ID, "clusters-section").is_displayed()
        assert not driver.find_element(By.ID, "people-section").is_displayed()
        shown = [int(li.get_attribute("data-id")) for li in driver.find_elements(By.CSS_SELECTOR, "#clusters li.cluster")]
        assert shown == [c["id"] for c in start]  # largest first, as the API lists them
        wait.until(lambda d: all(d.execute_script("return arguments[0].naturalWidth", img) > 0
                                 for img in d.find_elements(By.CSS_SELECTOR, "#clusters .thumbs img")))
        assert len(card(start[0]["id"]).find_elements(By.CSS_SELECTOR, ".thumbs img")) == start[0]["size"]

        # merge the two largest clusters with the tick boxes and the Merge button
        a, b = start[0], start[1]
        card(a["id"]).find_element(By.CSS_SELECTOR, ".cluster-tick").click()
        card(b["id"]).find_element(By.CSS_SELECTOR, ".cluster-tick").click()
        said = after(lambda: driver.find_element(By.ID, "merge").click())
        assert f"merged into cluster {a['id']}" in said, said
        assert client.cluster(a["id"])["size"] == a["size"] + b["size"]

        # split b's faces off again
        b_faces = [f["id"] for f in b["faces"]]
        select_faces(a["id"], b_faces)
        said = after(lambda: card(a["id"]).find_element(By.CSS_SELECTOR, "button.split").click())
        assert "moved to new cluster" in said, said
        new_id = int(said.split("new cluster ")[1].rstrip("."))
        assert sorted(f["id"] for f in client.cluster(new_id)["faces"]) == sorted(b_faces)

        # move one face of a to the new cluster (selected from the keyboard)
        from selenium.webdriver.common.keys import Keys

        moved = a["faces"][0]["id"]
        card(a["id"]).find_element(By.CSS_SELECTOR, f'.thumb[data-face="{moved}"] img').send_keys(Keys.SPACE)
        assert card(a["id"]).find_element(By.CSS_SELECTOR, f'.thumb[data-face="{moved}"] img').get_attribute("aria-checked") == "true"
        Select(card(a["id"]).find_element(By.CSS_SELECTOR, ".move-kind")).select_by_value("cluster")
        card(a["id"]).find_element(By.CSS_SELECTOR, ".move-target").send_keys(str(new_id))
        said = after(lambda: card(a["id"]).find_element(By.CSS_SELECTOR, "button.move").click())
        assert "moved to cluster" in said, said
        assert moved in [f["id"] for f in client.cluster(new_id)["faces"]]

        # not this person: the face leaves the new cluster
        said = after(lambda: card(new_id).find_element(By.CSS_SELECTOR, f'.thumb[data-face="{moved}"] .not-this').click())
        assert "taken out" in said, said
        assert moved not in [f["id"] for f in client.cluster(new_id)["faces"]]

        # move a face to a person (enrolled from the cluster)
        to_person = next(f["id"] for f in client.cluster(a["id"])["faces"])
        select_faces(a["id"], [to_person])
        Select(card(a["id"]).find_element(By.CSS_SELECTOR, ".move-kind")).select_by_value("person")
        card(a["id"]).find_element(By.CSS_SELECTOR, ".move-target").send_keys("Someone Else")
        said = after(lambda: card(a["id"]).find_element(By.CSS_SELECTOR, "button.move").click())
        assert "moved to Someone Else" in said, said
        assert len(client.person("Someone Else")["faces"]) == 1

        # name cluster a: its faces are enrolled and it leaves the list
        left = client.cluster(a["id"])["size"]
        card(a["id"]).find_element(By.CSS_SELECTOR, ".name-cluster input").send_keys("Tony Blair")
        said = after(lambda: card(a["id"]).find_element(By.CSS_SELECTOR, ".name-cluster button").click())
        assert "enrolled as Tony Blair" in said, said
        assert len(client.person("Tony Blair")["faces"]) == left
        assert not driver.find_elements(By.CSS_SELECTOR, f'#clusters li.cluster[data-id="{a["id"]}"]')

        OUT.mkdir(exist_ok=True)
        driver.save_screenshot(str(OUT / "service-clusters.png"))
        # back on the first tab, the people list shows the named cluster
        driver.find_element(By.ID, "tab-main").click()
        wait.until(lambda d: "Tony Blair" in d.find_element(By.ID, "people").text)
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
