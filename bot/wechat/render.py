"""The bot's messages as WeChat text: one passive reply per user message, so the messages of
one turn are merged; buttons become numbered options; links become ``<a href>``; text is cut
into parts of at most 2,048 bytes (WeChat's limit), at paragraph or line ends when possible."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List

MAX_BYTES = 2048
MORE_HINT = "\n\n（内容较长，回复任意内容继续）"
OPTIONS_HEADER = "请回复数字选择："

_MARKDOWN_LINK = re.compile(r"\[([^\]\n]{1,80})\]\((https?://[^\s)]+)\)")
# Pieces never cut in the middle: a link, or one character.
_ATOM = re.compile(r"<a href=\"[^\"]*\">.*?</a>|.", re.S)
_NUMBER = re.compile(r"^\s*(?:第\s*)?([0-9０-９]{1,2})\s*(?:[.．。、号个项]|\s)*$")


def _link(url: str, title: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(title, quote=False)}</a>'


def _text_of(message: Dict[str, Any]) -> str:
    text = str(message.get("text") or "").strip()
    text = _MARKDOWN_LINK.sub(lambda m: _link(m.group(2), m.group(1)), text)
    image = message.get("image")
    if image:
        text = (text + "\n" if text else "") + _link(str(image), "查看图片")
    attachment = message.get("attachment")
    if isinstance(attachment, dict) and attachment.get("payload", {}).get("src"):
        text = (text + "\n" if text else "") + _link(str(attachment["payload"]["src"]), "查看附件")
    return text


@dataclass
class Rendered:
    parts: List[str] = field(default_factory=list)
    # [{"title", "payload"}] that "1", "2"… select, in order.
    options: List[Dict[str, str]] = field(default_factory=list)


def render(messages: Iterable[Dict[str, Any]], max_bytes: int = MAX_BYTES) -> Rendered:
    """The messages of one turn as parts of text, each at most ``max_bytes`` bytes."""
    paragraphs: List[str] = []
    options: List[Dict[str, str]] = []
    for message in messages:
        text = _text_of(message)
        if text:
            paragraphs.append(text)
        for button in message.get("buttons") or message.get("quick_replies") or []:
            title = str(button.get("title") or "").strip()
            payload = str(button.get("payload") or button.get("url") or "").strip()
            if not title or not payload:
                continue
            if button.get("type") == "web_url" or payload.startswith(("http://", "https://")):
                paragraphs.append(_link(payload, title))
            else:
                options.append({"title": title, "payload": payload})
    if options:
        lines = [f"{i}. {option['title']}" for i, option in enumerate(options, 1)]
        paragraphs.append(OPTIONS_HEADER + "\n" + "\n".join(lines))
    text = "\n\n".join(paragraphs)
    return Rendered(parts=split(text, max_bytes) if text else [], options=options)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def split(text: str, max_bytes: int = MAX_BYTES) -> List[str]:
    """``text`` in parts of at most ``max_bytes`` UTF-8 bytes; cuts at a blank line, else at
    a line end, else between characters, never inside a link."""
    parts: List[str] = []
    rest = text.strip()
    while _size(rest) > max_bytes:
        head = _fit(rest, max_bytes)
        cut = max(head.rfind("\n\n"), -1)
        if cut < len(head) // 3:
            cut = head.rfind("\n")
        if cut < len(head) // 3:
            cut = len(head)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return [part for part in parts if part]


def _fit(text: str, max_bytes: int) -> str:
    """The longest prefix of whole atoms (characters, links) within ``max_bytes``."""
    size, end = 0, 0
    for atom in _ATOM.finditer(text):
        atom_size = _size(atom.group(0))
        if size + atom_size > max_bytes:
            break
        size += atom_size
        end = atom.end()
    if end == 0:  # a single link longer than a part: cut it as plain characters
        return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return text[:end]


def chosen_option(text: str, options: List[Dict[str, str]]) -> Dict[str, str] | None:
    """The option a reply like "2", "２", "第2个" picks, when it is in range."""
    match = _NUMBER.match(text or "")
    if not match or not options:
        return None
    index = int(match.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    return options[index - 1] if 1 <= index <= len(options) else None
