"""The app's page: three tabs (generate, browse, classify) wired to :mod:`.generate`, :mod:`.browse` and
:mod:`.classify`, and served offline-safe (:func:`launch`). Every element a test or a user script needs has a stable
``elem_id``.

Per-visitor state (the chosen face, the opened MiE-X, the loaded model) lives in ``gr.State``; generators, datasets
and models are loaded once per process and shared.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from miex.app import browse, classify, generate
from miex.app.options import AppOptions, require_gradio
from miex.core.errors import MiexInputError
from miex.data.aus.schema import AU_NAMES, NUM_AUS
from miex.data.magnify import DEFAULT_ALPHA, magnification_label

NO_PROTOTYPE = "(none)"
IMAGE_HEIGHT = 256
CSS = """
.miex-frame img { width: 100% !important; height: 100% !important; object-fit: contain; image-rendering: pixelated; }
"""
"""Frames are small (128 px crops): drawn to fill their box with visible pixels, never smoothed into the face."""
INTRO = """\
# miex
Animate a face with Action Units, browse a MiE-X dataset, classify a micro-expression.
Everything runs on this machine; nothing is sent anywhere.
"""


def friendly(gr: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with a user's input error shown as a message in the page instead of a stack trace."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MiexInputError as error:
            raise gr.Error(str(error)) from error

    return wrapped


DISPLAY_ALPHA = DEFAULT_ALPHA
"""Magnification shown by default, the library's and the dataset cards' (docs/reference.md §Motion magnification)."""
MAGNIFIED_LABEL = "apex, magnification α (slider)"
"""The Generate tab's magnified apex: α is the slider's value, named as everywhere (never a "×" factor)."""
BROWSE_MAGNIFIED_LABEL = f"apex, {magnification_label(DISPLAY_ALPHA)}"
"""The Browse tab's magnified apex: the default, named as the cards name it."""


def build_blocks(options: AppOptions) -> Any:
    """The whole page as a ``gr.Blocks``; the generator and the default face are loaded here, once."""
    gr = require_gradio()
    import_shared_libraries()
    # Every rendered frame is a PNG in Gradio's cache: files older than an hour go, hourly (a Space runs for days).
    with gr.Blocks(title="miex", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                generate_tab(gr, app, options)
            with gr.Tab("Browse MiE-X", id="browse", elem_id="tab-browse"):
                browse_tab(gr, app, options)
            with gr.Tab("Classify", id="classify", elem_id="tab-classify"):
                classify_tab(gr, app, options)
    return app


def import_shared_libraries() -> None:
    """Import ``datasets`` and the part of ``transformers`` it inspects, here, once, before any event runs.

    Gradio runs events in worker threads; when one thread is still importing ``transformers`` (loading a recognizer)
    while another opens a MiE-X, ``datasets`` finds the half-initialised module and fails with "module
    'transformers' has no attribute 'PreTrainedTokenizerBase'" (seen in the browser tests)."""
    import datasets  # noqa: F401
    import transformers

    transformers.PreTrainedTokenizerBase  # noqa: B018 - resolves the lazy attribute datasets reads


def output_image(gr: Any, label: str, elem_id: str) -> Any:
    return gr.Image(
        label=label,
        type="numpy",
        format="png",
        interactive=False,
        height=IMAGE_HEIGHT,
        elem_id=elem_id,
        elem_classes=["miex-frame"],
    )


# --- generate ----------------------------------------------------------------------------------------------------


def image_keys(face: Any, generator: str, amount: float, values: Sequence[float]) -> tuple:
    """What each of the Generate tab's images (onset, apex, magnified apex, change) depends on. Gradio saves every
    image it is sent to a file named by its content, rewriting the file in place when it is sent again; sending only
    the images whose inputs changed spares that work and never rewrites a file a browser may be reading."""
    token = hashlib.blake2b(np.ascontiguousarray(face.rgb).tobytes(), digest_size=8).hexdigest()
    aus = tuple(round(float(value), 4) for value in values)
    return (
        (token, generator),
        (token, generator, aus),
        (token, generator, aus, float(amount)),
        (token, generator, aus, float(amount)),
    )


def generate_tab(gr: Any, app: Any, options: AppOptions) -> None:
    if options.faces is None:
        from miex.data.faces.builtin import builtin_face_pool

        pool = str(builtin_face_pool())
    else:
        pool = options.faces
    faces = generate.pool_choices(pool)
    first = next(iter(faces))
    animators = {"warp": generate.Animator("warp")}
    if options.checkpoint:
        animators["ganimation"] = generate.Animator("ganimation", options.checkpoint)

    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            face_pick = gr.Dropdown(list(faces), value=first, label="face from the pool", elem_id="face-pick")
            upload = gr.Image(
                label="or upload a photo (the largest face is aligned)",
                type="numpy",
                sources=["upload", "clipboard"],
                height=160,
                elem_id="face-upload",
            )
            face_view = gr.Image(
                label="aligned face", type="numpy", interactive=False, height=160, elem_id="face-aligned"
            )
            generator = gr.Radio(list(animators), value="warp", label="generator", elem_id="generator")
            emotion = gr.Dropdown(
                [NO_PROTOTYPE, *generate.emotions()],
                value=NO_PROTOTYPE,
                label="emotion prototype (sets the sliders)",
                elem_id="prototype",
            )
            preset = gr.Radio(
                list(generate.INTENSITY_RANGES),
                value="micro",
                label="prototype intensity",
                elem_id="prototype-intensity",
            )
            alpha = gr.Slider(0, 50, value=DISPLAY_ALPHA, step=1, label="magnification α", elem_id="alpha")
            reset = gr.Button("neutral (all AUs 0)", elem_id="reset")
        with gr.Column(scale=3):
            with gr.Row():
                onset = output_image(gr, "onset (AUs 0)", "onset-image")
                apex = output_image(gr, "apex (the sliders' AUs)", "apex-image")
                magnified = output_image(gr, MAGNIFIED_LABEL, "magnified-image")
                motion = output_image(gr, "change (red brighter, blue darker)", "motion-image")
            sliders = []
            for start in range(0, NUM_AUS, 6):
                with gr.Row():
                    for name in AU_NAMES[start : start + 6]:
                        sliders.append(
                            gr.Slider(
                                0,
                                5,
                                value=0,
                                step=0.1,
                                label=generate.au_label(name),
                                elem_id=f"au-{name}",
                                min_width=140,
                            )
                        )
    face_state = gr.State(None)
    shown = gr.State(None)  # what the four images show: a re-render sends only the images that changed
    images = [onset, apex, magnified, motion]

    def render(
        shown_keys: tuple | None, face: generate.Face | None, name: str, amount: float, *values: float
    ) -> list[Any]:
        face = face or generate.pool_face(pool, faces[first])
        keys = image_keys(face, name, amount, values)
        if shown_keys == keys:  # e.g. a slider's input and release events carrying the same value
            return [keys, *(gr.skip() for _ in images)]
        neutral_aus = np.zeros(NUM_AUS, np.float32)
        start, end = animators[name].frames(face, neutral_aus, generate.au_vector(values))
        rendered = [start, end, *generate.magnified(start, end, amount)]
        old = shown_keys or (None,) * len(images)
        return [
            keys,
            *(gr.skip() if before == now else image for before, now, image in zip(old, keys, rendered, strict=True)),
        ]

    def pick(shown_keys: tuple | None, label: str, name: str, amount: float, *values: float) -> list[Any]:
        face = generate.pool_face(pool, faces[label])
        return [face, face.rgb, *render(shown_keys, face, name, amount, *values)]

    def uploaded(
        shown_keys: tuple | None, photo: np.ndarray | None, name: str, amount: float, *values: float
    ) -> list[Any]:
        if photo is None:
            return [gr.skip()] * (3 + len(images))
        face = generate.face_from_photo(photo)
        return [face, face.rgb, *render(shown_keys, face, name, amount, *values)]

    def apply_prototype(
        shown_keys: tuple | None, chosen: str, level: str, face: generate.Face | None, name: str, amount: float
    ) -> list[Any]:
        if chosen == NO_PROTOTYPE:
            return [gr.skip()] * (NUM_AUS + 1 + len(images))
        vector = [round(float(v), 2) for v in generate.prototype(chosen, level)]
        return [*vector, *render(shown_keys, face, name, amount, *vector)]

    def neutral(shown_keys: tuple | None, face: generate.Face | None, name: str, amount: float) -> list[Any]:
        zeros = [0.0] * NUM_AUS
        return [*zeros, NO_PROTOTYPE, *render(shown_keys, face, name, amount, *zeros)]

    controls = [generator, alpha, *sliders]
    live = {"trigger_mode": "always_last", "show_progress": "hidden"}
    gr.on(
        [s.input for s in sliders] + [s.release for s in sliders] + [alpha.input, generator.input],
        friendly(gr, render),
        [shown, face_state, *controls],
        [shown, *images],
        **live,
    )
    face_pick.input(friendly(gr, pick), [shown, face_pick, *controls], [face_state, face_view, shown, *images], **live)
    upload.upload(friendly(gr, uploaded), [shown, upload, *controls], [face_state, face_view, shown, *images])
    gr.on(
        [emotion.input, preset.input],
        friendly(gr, apply_prototype),
        [shown, emotion, preset, face_state, generator, alpha],
        [*sliders, shown, *images],
        **live,
    )
    reset.click(
        friendly(gr, neutral), [shown, face_state, generator, alpha], [*sliders, emotion, shown, *images], **live
    )
    app.load(friendly(gr, pick), [shown, face_pick, *controls], [face_state, face_view, shown, *images])


# --- browse ------------------------------------------------------------------------------------------------------


def browse_tab(gr: Any, app: Any, options: AppOptions) -> None:
    with gr.Row():
        where = gr.Textbox(
            value=options.miex or "",
            label="MiE-X folder (miex synthesize --out DIR) or Hub dataset repo ORG/NAME",
            scale=4,
            elem_id="miex-where",
        )
        open_button = gr.Button("open", scale=1, elem_id="miex-open")
    with gr.Row():
        classes = gr.CheckboxGroup([], label="class", elem_id="filter-class")
        sources = gr.CheckboxGroup([], label="AU source", elem_id="filter-source")
        identities = gr.Dropdown(
            [], value=[], multiselect=True, label="identity (none chosen: every identity)", elem_id="filter-identity"
        )
    count = gr.Markdown("open a MiE-X to browse it", elem_id="browse-count")
    gallery = gr.Gallery(
        label="apex frames (select one for its onset, apex and AUs)",
        columns=8,
        height="auto",
        allow_preview=False,
        elem_id="browse-gallery",
    )
    with gr.Row():
        onset = output_image(gr, "onset", "browse-onset")
        apex = output_image(gr, "apex", "browse-apex")
        magnified = output_image(gr, BROWSE_MAGNIFIED_LABEL, "browse-magnified")
        aus = gr.Dataframe(
            headers=["AU", "onset", "apex"],
            label="AU intensities (0 to 5; AUs at 0 left out)",
            interactive=False,
            elem_id="browse-aus",
        )
    opened = gr.State("")
    shown = gr.State([])

    def show(browser: browse.Browser, rows: np.ndarray) -> list[Any]:
        text = f"**{len(rows)}** of {len(browser.table)} samples match"
        if len(rows) > browse.SHOWN:
            text += f" (the first {browse.SHOWN} are shown)"
        return [text, browser.gallery(rows), [int(r) for r in rows[: browse.SHOWN]]]

    def open_it(text: str) -> list[Any]:
        if not text.strip():
            return [gr.skip()] * 7
        browser = browse.open_miex(text)
        rows = browser.matching(browser.classes, browser.sources, [])
        return [
            browser.where,
            gr.CheckboxGroup(choices=browser.classes, value=browser.classes),
            gr.CheckboxGroup(choices=browser.sources, value=browser.sources),
            gr.Dropdown(choices=browser.identities, value=[]),
            *show(browser, rows),
        ]

    def refilter(current: str, chosen_classes: list[str], chosen_sources: list[str], chosen_ids: list[str]) -> list:
        if not current:
            return [gr.skip()] * 3
        browser = browse.open_miex(current)
        return show(browser, browser.matching(chosen_classes, chosen_sources, chosen_ids))

    def select(current: str, rows: list[int], event: gr.SelectData) -> list[Any]:
        browser = browse.open_miex(current)
        row = rows[event.index]
        first, last = browser.frames(row)
        return [first, last, generate.magnified(first, last, float(DISPLAY_ALPHA))[0], browser.details(row)]

    select.__annotations__["event"] = gr.SelectData  # resolved here: Gradio finds the event argument by its type
    outputs = [opened, classes, sources, identities, count, gallery, shown]
    gr.on([open_button.click, where.submit], friendly(gr, open_it), [where], outputs)
    gr.on(
        [classes.input, sources.input, identities.input],
        friendly(gr, refilter),
        [opened, classes, sources, identities],
        [count, gallery, shown],
        trigger_mode="always_last",
    )
    gallery.select(friendly(gr, select), [opened, shown], [onset, apex, magnified, aus])
    if options.miex:
        app.load(friendly(gr, open_it), [where], outputs)


# --- classify ----------------------------------------------------------------------------------------------------


def classify_tab(gr: Any, app: Any, options: AppOptions) -> None:
    with gr.Row():
        where = gr.Textbox(
            value=options.recognizer or "",
            label="recognizer: model folder (miex train writes OUT/model) or Hub model repo ORG/NAME",
            scale=4,
            elem_id="model-where",
        )
        load_button = gr.Button("load", scale=1, elem_id="model-load")
    info = gr.Markdown("load a recognizer to classify a pair", elem_id="model-info")
    with gr.Row():
        onset = gr.Image(
            label="onset frame",
            type="numpy",
            sources=["upload", "clipboard"],
            height=IMAGE_HEIGHT,
            elem_id="classify-onset",
        )
        apex = gr.Image(
            label="apex frame",
            type="numpy",
            sources=["upload", "clipboard"],
            height=IMAGE_HEIGHT,
            elem_id="classify-apex",
        )
        with gr.Column():
            align = gr.Checkbox(
                True, label="align the pair on the onset's face (as evaluation does)", elem_id="classify-align"
            )
            resize = gr.Number(256, precision=0, minimum=1, label="resize (shorter side)", elem_id="classify-resize")
            crop = gr.Number(224, precision=0, minimum=1, label="centre crop", elem_id="classify-crop")
            run = gr.Button("classify", variant="primary", elem_id="classify-run")
    with gr.Row():
        probabilities = gr.Label(label="class probabilities", elem_id="classify-probabilities")
        exact = gr.Markdown("", elem_id="classify-table")
    loaded = gr.State("")

    def load(text: str) -> list[Any]:
        if not text.strip():
            return [gr.skip()] * 5
        recognizer = classify.load_recognizer(text)
        settings = recognizer.preprocessing
        return [recognizer.where, recognizer.describe(), settings.align, settings.resize, settings.crop_size]

    def run_it(
        current: str, first: np.ndarray | None, last: np.ndarray | None, aligned: bool, size: float, cropped: float
    ) -> list[Any]:
        if not current:
            raise MiexInputError("load a recognizer first")
        recognizer = classify.load_recognizer(current)
        result = classify.classify(recognizer, first, last, align=aligned, resize=int(size), crop_size=int(cropped))
        table = "| class | probability |\n|---|---|\n" + "\n".join(f"| {k} | {v:.4f} |" for k, v in result.items())
        return [result, table]

    gr.on([load_button.click, where.submit], friendly(gr, load), [where], [loaded, info, align, resize, crop])
    run.click(friendly(gr, run_it), [loaded, onset, apex, align, resize, crop], [probabilities, exact])
    if options.recognizer:
        app.load(friendly(gr, load), [where], [loaded, info, align, resize, crop])


def launch_kwargs(options: AppOptions, *, block: bool) -> dict[str, Any]:
    """Arguments of ``Blocks.launch``: no share link unless asked, no server-side rendering (it needs Node), no
    browser opened, errors shown in the page."""
    kwargs: dict[str, Any] = {
        "share": options.share,
        "ssr_mode": False,
        "inbrowser": False,
        "show_error": True,
        "prevent_thread_lock": not block,
        "css": CSS,
    }
    if options.host is not None:
        kwargs["server_name"] = options.host
    if options.port is not None:
        kwargs["server_port"] = options.port
    return kwargs


def build_app(options: AppOptions | None = None) -> Any:
    """The app as a ``gr.Blocks`` (not launched): mount it, test it, or ``.launch()`` it yourself."""
    return build_blocks(options or AppOptions())


def launch(options: AppOptions | None = None, *, block: bool = True, app: Any = None) -> Any:
    """Serve ``app`` (default: built from ``options``); with ``block`` (the command line) until Ctrl-C, else return
    the running Blocks."""
    options = options or AppOptions()
    app = build_app(options) if app is None else app
    app.queue(default_concurrency_limit=2)
    app.launch(**launch_kwargs(options, block=block))
    return app
