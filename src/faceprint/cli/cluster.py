"""`faceprint cluster`: group the faces of unlabelled photos by person; `faceprint eval cluster`: how well it does on
labelled folders; `faceprint people clusters | name-cluster | merge-clusters | split-cluster | discard-cluster`: work
with stored clusters."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from faceprint.detect import DEFAULT_DETECTOR
from faceprint.cli._common import (
    console,
    err_console,
    handle_errors,
    labelled_embeddings,
    plural,
    print_json,
    progress_bar,
    stored_model_name,
)
from faceprint.cli._gallery_opts import GalleryOpt
from faceprint.models import DEFAULT_CLUSTER_MODEL

MethodOpt = Annotated[
    Optional[str],
    typer.Option("--method", help="agglomerative (default), chinese-whispers or hdbscan."),
]
ThresholdOpt = Annotated[
    Optional[float],
    typer.Option("--threshold", "-t", help="Distance at which faces are grouped (default: follows the model and the collection's size and make-up)."),
]
MinSizeOpt = Annotated[int, typer.Option("--min-size", help="Smaller clusters leave their faces alone.")]
OldMinSizeOpt = Annotated[Optional[int], typer.Option("-k", hidden=True, min=1, help="Deprecated spelling of --min-size (-k is --top-k).")]


def _min_size(min_size: int, old_k: int | None, command: str) -> int:
    """--min-size, or the deprecated -k with a note (-k means --top-k everywhere else)."""
    if old_k is None:
        return min_size
    err_console.print(f"note: {command} -k is now --min-size (-k is --top-k in identify)", highlight=False)
    return old_k


def cluster(
    paths: Annotated[list[Path], typer.Argument(help="Photos or folders of photos (searched recursively).")],
    method: MethodOpt = None,
    threshold: ThresholdOpt = None,
    min_size: MinSizeOpt = 2,
    old_k: OldMinSizeOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write a contact sheet per cluster (largest first), of faces left alone and of low-quality faces here.")] = None,
    gallery: Annotated[Optional[Path], typer.Option("--gallery", "-g", help="Name faces of enrolled people first, store the clusters here (new photos then join them).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="With --gallery: recluster from scratch instead of joining the stored clusters.")] = False,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Embedding model (default: facenet-inception-resnet-v1-int8, or float32 without VNNI: it clusters best on LFW DevTrain, docs/clustering.md; with --gallery, the gallery's model).")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    min_face: Annotated[float, typer.Option("--min-cluster-face", help="Faces with a shorter side (pixels) are detected but kept out of clusters.")] = 40.0,
    old_min_face: Annotated[Optional[float], typer.Option("--min-face", hidden=True, help="Deprecated spelling of --min-cluster-face.")] = None,
    min_score: Annotated[Optional[float], typer.Option(help="Faces with a lower detector score are kept out (default: the detector's own floor, 0.85 for YuNet, 0.9 for the others).")] = None,
    min_sharpness: Annotated[float, typer.Option(help="Faces less sharp (variance of the Laplacian at 64x64) are kept out.")] = 20.0,
    cache: Annotated[bool, typer.Option(help="Reuse faces cached by model, detector, path and content hash.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: clusters, noise, people, low_quality.")] = False,
) -> None:
    """Find the people in a photo collection: detect and embed every face, group the faces by person.

    Two faces of one photo never share a cluster. Tiny, blurred and doubtful faces are kept out and reported. With
    --gallery, faces of enrolled people are named first, only the rest are clustered, and the clusters are stored
    for `faceprint people name-cluster ID NAME`; a later run with new photos adds them to the stored clusters.
    """
    min_size = _min_size(min_size, old_k, "cluster")
    if old_min_face is not None:
        err_console.print("note: cluster --min-face is now --min-cluster-face (--min-face is video's detector minimum)",
                          highlight=False)
        min_face = old_min_face
    from faceprint.analyzer import FaceAnalyzer
    from faceprint.cluster import FaceCache, QualityRule, SavedClusters, cluster_collection, collect_faces
    from faceprint.cluster.quality import min_score_for
    from faceprint.gallery import Gallery
    from faceprint.gallery.identify import build_identifier
    from faceprint.recognize.images import expand_paths

    with handle_errors():
        model = stored_model_name(model if model is not None else _cluster_model(gallery))
        images = expand_paths(paths)
        analyzer = FaceAnalyzer(model=model, detector=detector)
        rule = QualityRule(min_face, min_score if min_score is not None else min_score_for(detector), min_sharpness)
        store = FaceCache() if cache else None
        try:
            with progress_bar() as bar:
                task = bar.add_task("finding faces", total=len(images))
                collection = collect_faces(images, analyzer, quality=rule, cache=store,
                                           on_image=lambda done, total: bar.update(task, completed=done))
        finally:
            if store is not None:
                store.close()
        g = Gallery(gallery) if gallery is not None else None
        try:
            identifier = build_identifier(g, analyzer) if g is not None and g.models().get(model) else None
            stored = None if g is None else SavedClusters.load(g, model)
            outcome = cluster_collection(collection, method=method, threshold=threshold, min_size=min_size,
                                         identifier=identifier, saved=None if fresh else stored,
                                         replacing=stored if fresh else None)
            if g is not None:
                outcome.clusters.save(g)
        finally:
            if g is not None:
                g.close()
        sheets = []
        if out is not None:
            from faceprint.cluster.sheets import write_cluster_sheets

            sheets = write_cluster_sheets(outcome, out)
    doc = outcome.to_dict()
    if as_json:
        if out is not None:
            doc["sheets"] = [str(p) for p in sheets]
        print_json(doc)
        return
    _print_outcome(doc, gallery, sheets, out)


def _print_outcome(doc: dict, gallery: Path | None, sheets: list[Path], out: Path | None) -> None:  # type: ignore[type-arg]
    s = doc["summary"]
    clusters = doc["clusters"]
    if clusters:
        table = Table(title=f"{plural(len(clusters), 'cluster')} ({doc['method']}, threshold {doc['threshold']}, model {doc['model']})")
        table.add_column("id", justify="right")
        table.add_column("faces", justify="right")
        table.add_column("photos (first 3)")
        for c in clusters:
            table.add_row(str(c["id"]), str(c["size"]), ", ".join(Path(f["image"]).name for f in c["faces"][:3]))
        console.print(table)
    low = ", ".join(f"{n} {why}" for why, n in s["low_quality"].items()) or "none"
    stored = " (stored clusters included)" if "added" in doc else ""
    console.print(
        f"{plural(s['images'], 'photo')}, {plural(s['faces'], 'face')}: {s['in_clusters']} in {plural(s['clusters'], 'cluster')}{stored}, "
        f"{s['alone']} left alone, {s['named']} named as enrolled people; kept out for low quality: {low}; "
        + (f"kept out as discarded: {s['discarded']}; " if s["discarded"] else "")
        + f"photos without a face: {s['images_without_face']}; unreadable: {s['unreadable']}",
        highlight=False,
    )
    if s["named_people"]:
        console.print("named: " + ", ".join(f"{person} {n}" for person, n in s["named_people"].items()), highlight=False)
    if "added" in doc:
        a = doc["added"]
        console.print(f"joined stored clusters: {plural(a['joined'], 'face')}; {plural(a['new_clusters'], 'new cluster')}; "
                      f"{plural(a['known'], 'face')} already stored",
                      highlight=False)
    if not clusters and not s["faces"]:
        console.print("no faces found: nothing to cluster", highlight=False)
    if out is not None:
        console.print(f"{plural(len(sheets), 'contact sheet')} in {out}", highlight=False)
    if gallery is not None and clusters:
        console.print(f"name a cluster: faceprint people name-cluster ID NAME --gallery {gallery}", highlight=False)


def eval_cluster(
    folder: Annotated[Path, typer.Argument(help="Identity folders: DIR/<person>/<images> (one face per photo).")],
    method: MethodOpt = None,
    threshold: ThresholdOpt = None,
    min_size: MinSizeOpt = 2,
    old_k: OldMinSizeOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model (as cluster's).")] = DEFAULT_CLUSTER_MODEL,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_DETECTOR,
    cache: Annotated[bool, typer.Option(help="Reuse embeddings cached by model, detector, path and content hash.")] = True,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write merges.jpg and splits.jpg (the worst mistakes) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cluster labelled photos as if unlabelled and score the result: pairwise and BCubed precision / recall / F, NMI,
    clusters found against people."""
    min_size = _min_size(min_size, old_k, "eval cluster")
    from faceprint.cluster import DEFAULT_METHOD, cluster_vectors, score_clustering
    from faceprint.cluster.run import resolve_threshold

    with handle_errors():
        data = labelled_embeddings(folder, None, model, detector, cache)
        m = method or DEFAULT_METHOD
        thr = resolve_threshold(m, threshold, data.model, data.vectors, data.metric)
        labels = cluster_vectors(data.vectors, method=m, threshold=thr, min_size=min_size, metric=data.metric, groups=data.sources)
        scores = score_clustering(data.labels, labels)
        written = []
        if report is not None:
            from faceprint.cluster.report import write_error_report

            written = write_error_report(data.labels, labels, data.sources, data.faces, report)
    if as_json:
        print_json({"model": data.model, "method": m, "threshold": thr, "min_size": min_size, **scores.to_dict(),
                    "skipped": len(data.skipped), **({"report": [str(p) for p in written]} if report is not None else {})})
        return
    table = Table(title=f"clustering {folder.name}: {m}, threshold {thr}, model {data.model}")
    table.add_column("measure")
    table.add_column("precision", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("F", justify="right")
    table.add_row("pairwise", f"{scores.pairwise_precision:.4f}", f"{scores.pairwise_recall:.4f}", f"{scores.pairwise_f:.4f}")
    table.add_row("BCubed", f"{scores.bcubed_precision:.4f}", f"{scores.bcubed_recall:.4f}", f"{scores.bcubed_f:.4f}")
    console.print(table)
    console.print(f"NMI {scores.nmi:.4f}; {plural(scores.clusters, 'cluster')} and {plural(scores.alone, 'face')} left alone for "
                  f"{plural(scores.people, 'person', 'people')} ({plural(scores.faces, 'face')}; "
                  f"{plural(len(data.skipped), 'photo')} without a face skipped)", highlight=False)
    if written:
        console.print("report: " + ", ".join(str(p) for p in written), highlight=False)


def _cluster_model(gallery: Path | None) -> str:
    """cluster's model when --model is not given: DEFAULT_CLUSTER_MODEL, or the gallery's (gallery_cluster_model)."""
    if gallery is None:
        return DEFAULT_CLUSTER_MODEL
    from faceprint.cluster.saved import gallery_cluster_model
    from faceprint.gallery import Gallery

    with Gallery(gallery) as g:
        return gallery_cluster_model(g)


@contextmanager
def _saved(gallery: Path | None, model: str | None):  # type: ignore[no-untyped-def]
    """(gallery, its stored clusters of `model`: by default the model `cluster --gallery` uses), the gallery closed on
    the way out (also when there are none)."""
    from faceprint.cluster import SavedClusters
    from faceprint.cluster.saved import gallery_cluster_model
    from faceprint.gallery import Gallery

    g = Gallery(gallery, create=False)
    try:
        yield g, SavedClusters.require(g, stored_model_name(model if model is not None else gallery_cluster_model(g), known=False))
    finally:
        g.close()


def list_clusters(
    gallery: GalleryOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Whose clusters (default: the gallery's clustering model, as cluster --gallery chooses it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the clusters as JSON.")] = False,
) -> None:
    """The clusters stored by `faceprint cluster --gallery`: id, size, face ids and photos."""
    with handle_errors():
        with _saved(gallery, model) as (_, saved):
            clusters = saved.clusters()
    if as_json:
        print_json({"model": saved.model, "method": saved.method, "threshold": saved.threshold,
                    "clusters": [{"id": cid, "size": len(fs), "faces": [{"id": f.id, "image": f.image, "box": list(f.face.box)} for f in fs]}
                                 for cid, fs in clusters.items()],
                    "alone": len(saved.alone())})
        return
    table = Table(title=f"{plural(len(clusters), 'cluster')}, {plural(len(saved.alone()), 'face')} alone ({saved.method}, threshold {saved.threshold})")
    table.add_column("id", justify="right")
    table.add_column("faces", justify="right")
    table.add_column("face ids")
    table.add_column("photos (first 3)")
    for cid, fs in clusters.items():
        table.add_row(str(cid), str(len(fs)), " ".join(str(f.id) for f in fs[:12]) + (" ..." if len(fs) > 12 else ""),
                      ", ".join(Path(f.image).name for f in fs[:3]))
    console.print(table)


def name_cluster(
    cluster_id: Annotated[int, typer.Argument(help="Cluster id (faceprint people clusters).")],
    name: Annotated[str, typer.Argument(help="The person's name (an enrolled person gains these faces).")],
    gallery: GalleryOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Whose clusters (default: the gallery's clustering model, as cluster --gallery chooses it).")] = None,
) -> None:
    """Enrol a stored cluster's faces as a person; the cluster leaves the list, and later runs report its faces as
    that person."""
    from faceprint.cluster.saved import photo_sha256
    from faceprint.errors import AlreadyEnrolled, UnknownModel
    from faceprint.names import person_name
    from faceprint.models.identity import model_identity

    with handle_errors():
        name = person_name(name)
        with _saved(gallery, model) as (g, saved):
            # The clusters were stored under the model's current identity (Gallery.data_key), so their vectors are
            # the current pipeline's; a name this process cannot build takes the gallery's record.
            try:
                identity = model_identity(saved.model)
            except UnknownModel:
                identity = g.model_record(saved.model)
            faces = saved.name(cluster_id, name)
            enrolled = 0
            with g.transaction():
                for f, vec in faces:
                    try:
                        g.add_face(name, f.image, photo_sha256(f.image), f.face, vec, saved.model, identity)
                        enrolled += 1
                    except AlreadyEnrolled:  # enrolled since it was clustered: it keeps its person
                        pass
            saved.save(g)
    console.print(f"cluster {cluster_id}: {plural(enrolled, 'face')} enrolled as {name}", highlight=False)


def merge_clusters(
    cluster_ids: Annotated[list[int], typer.Argument(help="Two or more cluster ids; they become the first one.")],
    gallery: GalleryOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Whose clusters (default: the gallery's clustering model, as cluster --gallery chooses it).")] = None,
) -> None:
    """Merge stored clusters that are one person."""
    with handle_errors():
        with _saved(gallery, model) as (g, saved):
            target = saved.merge(cluster_ids)
            saved.save(g)
    console.print(f"clusters {', '.join(map(str, cluster_ids))} merged into {target} ({plural(len(saved.cluster(target)), 'face')})", highlight=False)


def split_cluster(
    cluster_id: Annotated[int, typer.Argument(help="The cluster to split.")],
    face_ids: Annotated[list[int], typer.Argument(help="Face ids (faceprint people clusters) that move to a new cluster.")],
    gallery: GalleryOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Whose clusters (default: the gallery's clustering model, as cluster --gallery chooses it).")] = None,
) -> None:
    """Move some faces of a stored cluster into a new cluster of their own."""
    with handle_errors():
        with _saved(gallery, model) as (g, saved):
            new = saved.split(cluster_id, face_ids)
            saved.save(g)
    console.print(f"cluster {cluster_id}: {plural(len(face_ids), 'face')} moved to new cluster {new}", highlight=False)


def discard_cluster(
    cluster_id: Annotated[int, typer.Argument(help="The cluster to discard (faceprint people clusters).")],
    gallery: GalleryOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Whose clusters (default: the gallery's clustering model, as cluster --gallery chooses it).")] = None,
) -> None:
    """Discard a stored cluster that is nobody (partial faces at photo edges, posters, statues): it leaves the list
    and later runs keep its faces out."""
    with handle_errors():
        with _saved(gallery, model) as (g, saved):
            n = saved.discard(cluster_id)
            saved.save(g)
    console.print(f"cluster {cluster_id}: {plural(n, 'face')} discarded; later runs keep them out", highlight=False)
