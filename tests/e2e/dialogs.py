"""The pages' in-page confirmation dialog, as a browser test answers it."""
from __future__ import annotations

from playwright.sync_api import Page, expect


def answer_confirmation(page: Page, *, accept: bool = True, says: str | None = None) -> None:
    """Wait for the confirmation dialog, check its question if `says` is given, answer it."""
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    if says is not None:
        expect(dialog.locator("[data-confirm-text]")).to_contain_text(says)
    dialog.locator("#confirm-dialog-ok" if accept else "#confirm-dialog-cancel").click()
    expect(dialog).to_be_hidden()
