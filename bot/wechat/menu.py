"""The custom menu: ``config/wechat_menu.yml`` validated, as WeChat wants it, and the click
keys' payloads (what the channel sends to Rasa when a menu item is clicked)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from bot.config import ROOT

MENU_FILE = ROOT / "config" / "wechat_menu.yml"


class MenuError(ValueError):
    """The menu file is invalid; the message names the item and the field."""


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_item(item: Any, where: str, top: bool, payloads: Dict[str, str]) -> None:
    if not isinstance(item, dict):
        raise MenuError(f"{where}：应为键值对")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MenuError(f"{where}：缺少 name")
    if _bytes(name) > (16 if top else 60):
        raise MenuError(f"{where}（{name}）：name 过长（一级菜单至多 16 字节，二级 60 字节）")
    subs = item.get("sub_button")
    if subs is not None:
        if not top:
            raise MenuError(f"{where}（{name}）：二级菜单不能再有 sub_button")
        if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
            raise MenuError(f"{where}（{name}）：sub_button 须有 1 到 5 项")
        for i, sub in enumerate(subs, 1):
            _check_item(sub, f"{where}.sub_button[{i}]", False, payloads)
        return
    kind = item.get("type")
    if kind == "click":
        key, payload = item.get("key"), item.get("payload")
        if not isinstance(key, str) or not key or _bytes(key) > 128:
            raise MenuError(f"{where}（{name}）：click 菜单须有 key（至多 128 字节）")
        if key in payloads:
            raise MenuError(f"{where}（{name}）：key {key} 重复")
        if not isinstance(payload, str) or not payload.strip():
            raise MenuError(f"{where}（{name}）：click 菜单须有 payload（发给助手的内容）")
        payloads[key] = payload.strip()
    elif kind == "view":
        url = item.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MenuError(f"{where}（{name}）：view 菜单须有 http(s) 网址 url")
    else:
        raise MenuError(f"{where}（{name}）：type 须为 click 或 view（或改用 sub_button）")


def load_menu(path: Path = MENU_FILE) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """(the menu as WeChat's menu/create takes it, {click key: payload})."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MenuError(f"{path}：无法读取（{exc}）") from exc
    buttons = data.get("button") if isinstance(data, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise MenuError(f"{path}：button 须有 1 到 3 项")
    payloads: Dict[str, str] = {}
    for i, item in enumerate(buttons, 1):
        _check_item(item, f"{Path(path).name}: button[{i}]", True, payloads)
    return {"button": [_without_payload(item) for item in buttons]}, payloads


def _without_payload(item: Dict[str, Any]) -> Dict[str, Any]:
    clean = {k: copy.deepcopy(v) for k, v in item.items() if k not in ("payload", "sub_button")}
    if "sub_button" in item:
        clean["sub_button"] = [_without_payload(sub) for sub in item["sub_button"]]
    return clean


def click_payloads(path: Path = MENU_FILE) -> Dict[str, str]:
    return load_menu(path)[1]


def describe(menu: Dict[str, Any]) -> List[str]:
    """The menu as lines, for the command line's confirmation."""
    lines = []
    for item in menu["button"]:
        lines.append(item["name"])
        for sub in item.get("sub_button", []):
            lines.append(f"  └ {sub['name']}")
    return lines
