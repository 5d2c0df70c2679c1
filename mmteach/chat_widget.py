"""The virtual assistant's chat widget (notebook 11): pick a scene, ask, read the log.

Built like every widget of :mod:`mmteach.widgets`, and re-exported there: pure functions
that turn the chat into HTML (:func:`chat_entry_html`, :func:`chat_log_html`), a widget
class whose methods hold the logic (:class:`AssistantChat`, driven in tests by calling
``ask``), and a factory for the notebook (:func:`assistant_chat`). It lives apart from
the course's generic widgets because it needs an application's trained assistant.

Importing this module does not import TensorFlow.

Example
-------
>>> from mmteach.widgets import assistant_chat
>>> assistant_chat(assistant)  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from mmteach.validation import check_bool, check_str, describe

__all__ = ["AssistantChat", "assistant_chat", "chat_entry_html", "chat_log_html"]


def chat_entry_html(scene: str, question: str, reply: str, answered: bool) -> str:
    """One chat exchange as HTML: the question (with its scene) and the assistant's reply.

    Example
    -------
    >>> "red" in chat_entry_html("sc_00001", "what colour is the circle?", "red (99% sure)", True)
    True
    """
    scene, question = check_str("scene", scene), check_str("question", question, non_empty=False)
    reply, answered = check_str("reply", reply, non_empty=False), check_bool("answered", answered)
    style = "color:#1a7f37" if answered else "color:#b35900"
    return (f"<div><b>you</b> <small>({html.escape(scene)})</small>: {html.escape(question)}<br>"
            f"<b>assistant</b>: <span style='{style}'>{html.escape(reply)}</span></div>")  # fmt: skip


def chat_log_html(entries: Sequence[dict]) -> str:
    """The running chat log (oldest first); entries have ``scene, question, reply, answered``."""
    if isinstance(entries, str | dict) or not isinstance(entries, Sequence):
        raise TypeError(f"entries: expected a list of dict, got {describe(entries)}")
    if not entries:
        return "<i>Ask a question about the scene.</i>"
    return "".join(chat_entry_html(e["scene"], e["question"], e["reply"], e["answered"]) for e in entries)


class AssistantChat(widgets.VBox):
    """Pick or generate a scene, type a question, see the image and a running chat log.

    Parameters
    ----------
    assistant : :class:`mmteach.applications.assistant.Assistant`
    scenes : :class:`mmteach.scenes.Scenes` offered in the dropdown (e.g. the test scenes)

    Attributes
    ----------
    scene_menu : ipywidgets.Dropdown, new_button : ipywidgets.Button ("new scene"),
    question : ipywidgets.Text, ask_button : ipywidgets.Button, image : ipywidgets.Image,
    chat_log : ipywidgets.HTML
    entries : list of dict
        The chat so far (``scene, question, reply, answered``).
    """

    def __init__(self, assistant, scenes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not hasattr(assistant, "ask"):
            raise TypeError(f"assistant: expected an Assistant, got {type(assistant).__name__}")
        if not hasattr(scenes, "images") or len(scenes) == 0:
            raise ValueError("scenes: expected a non-empty mmteach.scenes.Scenes")
        self.assistant, self.scenes = assistant, scenes
        self.entries: list[dict] = []
        self._generated = 0
        self.scene_id, self.current = "", None
        self.scene_menu = widgets.Dropdown(options=list(scenes.meta["id"]), description="Scene")
        self.new_button = widgets.Button(description="new scene")
        self.image = widgets.Image(format="png", width=192, height=192)
        self.question = widgets.Text(placeholder="e.g. how many circles are there?", description="Question")
        self.ask_button = widgets.Button(description="Ask", button_style="primary")
        self.chat_log = widgets.HTML(chat_log_html([]))
        self.scene_menu.observe(lambda change: self.pick_scene(change["new"]), names="value")
        self.new_button.on_click(lambda button: self.new_scene())
        self.ask_button.on_click(lambda button: self.ask())
        self.question.on_submit(lambda text: self.ask())
        self.children = (widgets.HBox([self.scene_menu, self.new_button]), self.image,
                         widgets.HBox([self.question, self.ask_button]), self.chat_log)  # fmt: skip
        self.pick_scene(self.scene_menu.value)

    def pick_scene(self, scene_id: str) -> None:
        """Show scene ``scene_id`` of the dropdown's scenes."""
        ids = list(self.scenes.meta["id"])
        if scene_id not in ids:
            raise ValueError(f"scene_id: expected one of the {len(ids)} scene ids, got {scene_id!r}")
        self._show(scene_id, self.scenes.images[ids.index(scene_id)])

    def new_scene(self, seed: int | None = None) -> str:
        """Generate a fresh scene (``make_scenes`` with a new seed) and show it; returns its name."""
        from mmteach.scenes import make_scenes

        if seed is None:
            self._generated += 1
            seed = 1000 + self._generated
        sc = make_scenes(1, seed=seed)
        name = f"new scene (seed {seed})"
        self._show(name, sc.images[0])
        return name

    def ask(self, question: str | None = None):
        """Ask ``question`` (default: the text box) about the shown scene; log and return the Answer."""
        text = self.question.value if question is None else question
        reply = self.assistant.ask(self.current, text)
        self.entries.append({"scene": self.scene_id, "question": text, "reply": str(reply),
                             "answered": reply.answered})  # fmt: skip
        self.chat_log.value = chat_log_html(self.entries)
        self.question.value = ""
        return reply

    def _show(self, name: str, image) -> None:
        from mmteach.datasets import encode_png

        self.scene_id, self.current = name, image
        self.image.value = encode_png(image)


def assistant_chat(assistant, scenes=None) -> AssistantChat:
    """Chat with a trained assistant about scenes (default: the bundled test scenes).

    Example
    -------
    >>> assistant_chat(assistant)  # doctest: +SKIP
    """
    if scenes is None:
        from mmteach.scenes import load_scenes

        scenes = load_scenes(split="test")
    return AssistantChat(assistant, scenes)
