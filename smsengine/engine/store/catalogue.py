"""Signatures and templates on disk: what each account submitted, and how it was reviewed."""

from __future__ import annotations

from smsengine.domain.review import ReviewStatus
from smsengine.domain.templates import MessageType, TemplateRegion
from smsengine.engine.records import SignatureRow, TemplateRow
from smsengine.engine.store.database import Database, scope


class CatalogueQueries(Database):
    async def signature_rows(self, app_id: str | None = None) -> list[SignatureRow]:
        where, params = scope(app_id)
        rows = await self._rows("SELECT id, app_id, name, status, remark FROM signatures" + where, params)
        return [SignatureRow(sid, app, name, ReviewStatus(status), remark) for sid, app, name, status, remark in rows]

    async def insert_signature(self, app_id: str, name: str, status: ReviewStatus, at: float) -> int | None:
        """The new signature's id, or None if the account has one of that name already. The id
        comes from the writer's own INSERT, so concurrent creations each get theirs."""
        outcome = await self._write((
            "INSERT INTO signatures (app_id, name, status, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT (app_id, name) DO NOTHING RETURNING id",
            (app_id, name, str(status), at),
        ))
        return outcome.rows[0][0] if outcome.rows else None

    async def update_signature_review(self, signature_id: int, status: ReviewStatus, remark: str) -> None:
        await self._write((
            "UPDATE signatures SET status=?, remark=? WHERE id=?", (str(status), remark, signature_id)
        ))

    async def template_rows(self, app_id: str | None = None) -> list[TemplateRow]:
        where, params = scope(app_id)
        rows = await self._rows(
            "SELECT id, app_id, text, type, region, status, remark, name, note FROM templates" + where, params
        )
        return [
            TemplateRow(tid, app, text, MessageType(type_), TemplateRegion(region), ReviewStatus(status), remark,
                        name, note)
            for tid, app, text, type_, region, status, remark, name, note in rows
        ]

    async def insert_template(self, app_id: str, text: str, type: MessageType, region: TemplateRegion,
                              status: ReviewStatus, at: float, *, template_id: int | None = None, name: str = "",
                              note: str = "") -> int | None:
        """The new template's id (the next free one unless `template_id` is given), or None if
        `template_id` is taken. The id comes from the writer's own INSERT, so concurrent creations
        each get theirs."""
        outcome = await self._write((
            "INSERT INTO templates (id, app_id, text, type, region, status, created_at, name, note)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING RETURNING id",
            (template_id, app_id, text, str(type), str(region), str(status), at, name, note),
        ))
        return outcome.rows[0][0] if outcome.rows else None

    async def update_template_text(self, template_id: int, text: str, status: ReviewStatus, name: str,
                                   note: str) -> None:
        """An edited template: new text (name, note), back under review, the last decision's remark
        cleared."""
        await self._write((
            "UPDATE templates SET text=?, status=?, remark='', name=?, note=? WHERE id=?",
            (text, str(status), name, note, template_id)))

    async def update_signature_name(self, signature_id: int, name: str, status: ReviewStatus) -> bool:
        """A renamed signature, back under review; False if the account has that name already."""
        outcome = await self._write((
            "UPDATE OR IGNORE signatures SET name=?, status=?, remark='' WHERE id=?", (name, str(status), signature_id)))
        return outcome.changed == 1

    async def update_template_review(self, template_id: int, status: ReviewStatus, remark: str) -> None:
        await self._write((
            "UPDATE templates SET status=?, remark=? WHERE id=?", (str(status), remark, template_id)
        ))

    async def template_owner(self, template_id: int) -> str | None:
        """The account a template id belongs to, if it is taken."""
        return await self._scalar("SELECT app_id FROM templates WHERE id=?", (template_id,))
