"""WeChat official account channel (docs/wechat.md)."""
