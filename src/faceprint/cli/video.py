"""`faceprint video`: recognise the people in a video file, a camera or a stream, once per face track."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from faceprint.cli._common import (
    Exit,
    check_threshold,
    console,
    err_console,
    fail,
    handle_errors,
    plural,
    print_json,
    require_gallery,
    stored_model_name,
)
from faceprint.cli._gallery_opts import FarOpt, GalleryOpt
from faceprint.cli.gallery import WaitOpt
from faceprint.models import DEFAULT_MODEL
from faceprint.recognize.open_set import DEFAULT_FAR
from faceprint.video.recognizer import DEFAULT_DETECT_EVERY, DEFAULT_VIDEO_DETECTOR


def video(
    source: Annotated[str, typer.Argument(help="A video file, a camera index (0) or an RTSP/HTTP URL.")],
    gallery: GalleryOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the annotated video here; its extension says how (.mp4, .mov, .mkv: H.264; .avi: MPEG-4; .webm: VP9).")] = None,
    tracks: Annotated[Optional[Path], typer.Option("--tracks", help="Write one JSON line per track here (as each track ends).")] = None,
    faces: Annotated[Optional[Path], typer.Option("--faces", help="Write each track's best face into this folder (track_0001.jpg ...).")] = None,
    detect_every: Annotated[int, typer.Option("--detect-every", min=1, help="Detect faces at least every N frames (sooner for new and fast faces); the tracker carries them in between.")] = DEFAULT_DETECT_EVERY,
    recheck_every: Annotated[float, typer.Option("--recheck-every", min=0.01, help="Seconds between re-checks of a track (an UNKNOWN one may be named, a named one must still be its person).")] = 2.0,
    keep_lost: Annotated[float, typer.Option("--keep-lost", min=0.0, help="Seconds a face may be gone (hidden, out of the frame) and come back as the same track.")] = 1.0,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model (the gallery must hold its embeddings).")] = DEFAULT_MODEL,
    far: FarOpt = DEFAULT_FAR,
    threshold: Annotated[Optional[float], typer.Option(help="Distance above which a face is UNKNOWN; overrides --far.")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: yunet, mtcnn or dlib-hog.")] = DEFAULT_VIDEO_DETECTOR,
    min_face: Annotated[Optional[int], typer.Option("--min-face", min=8, help="Smallest face the detector looks for, in pixels of the detection copy (default: 16 for yunet, 40 for mtcnn).")] = None,
    detect_width: Annotated[int, typer.Option("--detect-width", min=0, help="Scale wider frames down to this width for detection (0: full size).")] = 640,
    live: Annotated[Optional[bool], typer.Option("--live/--file", help="Read as a live source (newest frame only) or as a file (every frame); default: cameras and URLs are live.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per track.")] = False,
    wait: WaitOpt = 10.0,
) -> None:
    """Track faces and name each track once, re-checking it when its face may have changed (a new person never
    inherits a name), writing an annotated video, tracks and faces.

    A file is read frame by frame; a camera or stream by a thread that keeps only the newest frame (stop with
    Ctrl-C: the tracks so far are written). A corrupt or truncated file stops with an error naming the frame
    reached, after writing the tracks found until then.
    """
    import faceprint
    from faceprint.errors import UnknownModel, VideoError
    from faceprint.detect import list_detectors
    from faceprint.video import VideoRecognizer, open_source, video_detector
    from faceprint.video.writers import AnnotatedVideoWriter, TracksWriter, annotate_frame, save_thumbnail, video_format

    with handle_errors():
        check_threshold(threshold)
        if out is not None:
            video_format(out)  # an extension we cannot write: say so before the work, not after it
        if detector not in list_detectors():
            raise UnknownModel("detector", detector, list_detectors())
        model = stored_model_name(model)
        require_gallery(gallery)
        with faceprint.Gallery(gallery, model=model, timeout=wait, create=False) as g:
            g.store.require_model(g.model)  # no one enrolled with this model: fail before opening the source
            src = open_source(source, live=live)
            writer = tracks_out = None
            error: VideoError | None = None
            interrupted = False
            ended = []
            rec: VideoRecognizer | None = None
            failed: str | None = None  # the class of an error that ends the run early
            try:
                rec = VideoRecognizer(g, src.fps, detect_every=detect_every, recheck_every_s=recheck_every,
                                      far=far, threshold=threshold, detector=video_detector(detector, min_face),
                                      detect_width=detect_width or None, keep_lost_s=keep_lost)
                writer = AnnotatedVideoWriter(out, getattr(src, "rate", src.fps), src.width, src.height) if out else None
                tracks_out = TracksWriter(tracks) if tracks else None

                def handle(events) -> None:  # type: ignore[no-untyped-def]
                    for e in events:
                        if e.kind != "ended":
                            continue
                        ended.append(e.track)
                        if tracks_out is not None:
                            tracks_out.write(e.track)
                        thumb = rec.thumbnail(e.track.track_id) if faces is not None else None
                        if thumb is not None:
                            written = save_thumbnail(faces, e.track, thumb)  # type: ignore[arg-type]
                            if not g.store.read_only:  # so that erasure and retention find it (gallery/erasure.py)
                                g.store.record_file(written, "thumbnail", e.track.person)

                last = None
                t0 = time.perf_counter()
                with _progress() as bar:
                    task = bar.add_task("video", total=src.frame_count, fps=0.0)
                    try:
                        for frame in src:
                            last = frame
                            result = rec.process(frame)
                            handle(result.events)
                            if writer is not None:
                                writer.write(annotate_frame(result))
                            bar.update(task, advance=1, fps=rec.frames / max(time.perf_counter() - t0, 1e-9))
                    except VideoError as exc:
                        error = exc
                    except KeyboardInterrupt:
                        interrupted = True
                    handle(rec.finish(last))
                elapsed = time.perf_counter() - t0
            except BaseException as exc:
                failed = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
                raise
            finally:
                try:
                    if writer is not None:
                        writer.close()
                    if tracks_out is not None:
                        tracks_out.close()
                    src.close()
                finally:
                    if rec is not None and rec.frames:  # frames were identified: the run is in the audit log
                        _audit(g, rec, ended, failed or (type(error).__name__ if error is not None else
                                                         "interrupted" if interrupted else "ok"))
    rows = [t.to_dict() for t in ended]
    if as_json:
        print_json(rows)
    else:
        for t in ended:
            who = t.person or ("UNKNOWN" + (f" (closest {t.closest})" if t.closest else "") if t.checked else "not recognised")
            conf = f", confidence {100 * t.confidence:.0f}%" if t.confidence is not None else ""
            clash = f", also looks like {t.closest} but track {t.conflict_with} holds that name" if t.conflict_with else ""
            console.print(f"track {t.track_id}: {who}, {t.first_s:.2f}-{t.last_s:.2f} s ({plural(t.frames, 'frame')}{conf}{clash})", highlight=False)
        console.print(f"{plural(rec.frames, 'frame')} in {elapsed:.1f} s ({rec.frames / max(elapsed, 1e-9):.1f} frames/s), "
                      f"{plural(len(ended), 'track')}, {plural(rec.recognitions, 'face')} embedded ({rec.recognitions / max(rec.frames, 1):.3f} per frame)",
                      highlight=False, style="dim")
    if interrupted:
        err_console.print("stopped; the tracks so far are written", highlight=False)
    if error is not None:
        raise fail(error)
    raise typer.Exit(int(Exit.OK))


def _audit(g: Any, rec: Any, ended: list[Any], result: str) -> None:
    """One audit record for the run (the service's /v1/video records its own): who its tracks were named as, how
    many tracks, unknown tracks and frames, and how it ended. Never raises over the run's own outcome."""
    from faceprint.gallery.audit import record

    try:
        record(g.store, "identify", sorted({t.person for t in ended if t.person}),
               {"video": True, "tracks": len(ended), "unknown": sum(1 for t in ended if t.person is None),
                "frames": rec.frames}, result=result, required=False)
    except Exception as exc:  # noqa: BLE001
        err_console.print(f"warning: no audit record of this run: {exc}", highlight=False, markup=False)


def _progress():  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} frames/s"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
