"""Hugging Face Space entry: the app of `miex app`, configured by the Space's variables (see miex.app.space;
`miex app --space DIR` writes a Space folder around this file). Locally: `python app.py`."""

from miex.app.space import serve, space_app

demo = space_app()  # module-level, as Gradio's reload mode (`gradio app.py`) expects

if __name__ == "__main__":
    serve(demo)
