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


def scripts_ready(page: Page) -> None:
    """The page's scripts have run (they are deferred: done by its load event), so a click
    on a form meets the page's confirmation and not a bare submit."""
    page.wait_for_load_state("load")


def click_to_confirm(page: Page, target) -> None:
    """Click a control that asks first (a Playwright locator or selector) once the page's
    scripts are wired to it."""
    scripts_ready(page)
    (page.locator(target) if isinstance(target, str) else target).click()
