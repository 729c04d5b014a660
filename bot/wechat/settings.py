"""The WeChat channel's settings, from the environment (docs/contract.md, docs/wechat.md)."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

DEFAULT_API_BASE = "https://api.weixin.qq.com"


class WeChatConfigError(ValueError):
    """A WeChat setting is unusable; the message names the variable."""


@dataclass(frozen=True)
class WeChatSettings:
    # The Token entered in the official account's server configuration (signatures).
    token: str = ""
    appid: str = ""
    secret: str = ""
    # EncodingAESKey (43 characters): safe and compatible mode; empty for plaintext mode.
    aes_key: str = ""
    api_base: str = DEFAULT_API_BASE
    # WeChat waits 5 s for a passive reply; what is not ready by then goes through the API.
    passive_seconds: float = 4.0
    # How long "1", "2"… keep selecting the options of the last answer.
    options_minutes: int = 10

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def can_push(self) -> bool:
        """Whether the customer-service message API can be used (needs AppID and AppSecret)."""
        return bool(self.appid and self.secret)

    def validate(self) -> None:
        if self.aes_key:
            if len(self.aes_key) != 43:
                raise WeChatConfigError("WECHAT_AES_KEY（EncodingAESKey）须为 43 个字符")
            try:
                key = base64.b64decode(self.aes_key + "=", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise WeChatConfigError("WECHAT_AES_KEY 不是有效的 EncodingAESKey") from exc
            if len(key) != 32:
                raise WeChatConfigError("WECHAT_AES_KEY 不是有效的 EncodingAESKey")
            if not self.appid:
                raise WeChatConfigError("安全模式（WECHAT_AES_KEY）还需要 WECHAT_APPID")
        if not self.api_base.startswith(("http://", "https://")):
            raise WeChatConfigError("WECHAT_API_BASE 须以 http:// 或 https:// 开头")
        if not 0.5 <= self.passive_seconds <= 4.5:
            raise WeChatConfigError("WECHAT_PASSIVE_SECONDS 须在 0.5 到 4.5 之间")

    @classmethod
    def from_env(cls) -> WeChatSettings:
        raw_passive = os.environ.get("WECHAT_PASSIVE_SECONDS") or "4.0"
        try:
            passive = float(raw_passive)
        except ValueError as exc:
            raise WeChatConfigError("WECHAT_PASSIVE_SECONDS 须为数字") from exc
        settings = cls(
            token=os.environ.get("WECHAT_TOKEN", "").strip(),
            appid=os.environ.get("WECHAT_APPID", "").strip(),
            secret=os.environ.get("WECHAT_SECRET", "").strip(),
            aes_key=os.environ.get("WECHAT_AES_KEY", "").strip(),
            api_base=(os.environ.get("WECHAT_API_BASE") or DEFAULT_API_BASE).rstrip("/"),
            passive_seconds=passive,
        )
        settings.validate()
        return settings
