"""A stand-in for ``onepassword.Client`` with the SDK's own interface and response types.

Items are ``{vault title: {item title: {field label | "section/field": value}}}``. Like the real
service, a reference resolves by vault/item/field titles; ``resolve_all`` answers each reference
with a content or a typed error, and the client counts its calls so tests can prove batching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onepassword.types import (
    Item,
    ItemField,
    ItemOverview,
    ItemSection,
    ResolveAllResponse,
    ResolvedReference,
    ResolveReferenceErrorFieldNotFound,
    ResolveReferenceErrorItemNotFound,
    ResolveReferenceErrorVaultNotFound,
    Response,
    VaultOverview,
)


@dataclass
class FakeOnePassword:
    vaults_data: dict[str, dict[str, dict[str, str]]]
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None  # raised by secrets.resolve_all itself (rate limit, expired session)

    def __post_init__(self) -> None:
        self.secrets = _Secrets(self)
        self.vaults = _Vaults(self)
        self.items = _Items(self)

    async def factory(self) -> FakeOnePassword:
        self.calls.append(("authenticate", None))
        return self

    def vault_id(self, title: str) -> str:
        return f"v-{title}"

    def item_id(self, vault: str, title: str) -> str:
        return f"i-{vault}-{title}"


class _Secrets:
    def __init__(self, op: FakeOnePassword):
        self.op = op

    async def resolve_all(self, refs: list[str]) -> ResolveAllResponse:
        self.op.calls.append(("resolve_all", list(refs)))
        if self.op.fail_with is not None:
            raise self.op.fail_with
        answers: dict[str, Response] = {}
        for ref in refs:
            vault, item, *rest = ref[len("op://") :].split("/")
            fields = self.op.vaults_data.get(vault)
            if fields is None:
                answers[ref] = Response(error=ResolveReferenceErrorVaultNotFound())
            elif item not in fields:
                answers[ref] = Response(error=ResolveReferenceErrorItemNotFound())
            elif "/".join(rest) not in fields[item]:
                answers[ref] = Response(error=ResolveReferenceErrorFieldNotFound())
            else:
                answers[ref] = Response(
                    content=ResolvedReference(
                        secret=fields[item]["/".join(rest)],
                        item_id=self.op.item_id(vault, item),
                        vault_id=self.op.vault_id(vault),
                    )
                )
        return ResolveAllResponse(individual_responses=answers)


class _Vaults:
    def __init__(self, op: FakeOnePassword):
        self.op = op

    async def list(self, params: Any = None) -> list[VaultOverview]:
        self.op.calls.append(("vaults.list", None))
        return [VaultOverview.model_construct(id=self.op.vault_id(v), title=v) for v in self.op.vaults_data]


class _Items:
    def __init__(self, op: FakeOnePassword):
        self.op = op

    def _vault_title(self, vault_id: str) -> str:
        return next(v for v in self.op.vaults_data if self.op.vault_id(v) == vault_id)

    async def list(self, vault_id: str, *filters: Any) -> list[ItemOverview]:
        self.op.calls.append(("items.list", vault_id))
        vault = self._vault_title(vault_id)
        return [
            ItemOverview.model_construct(id=self.op.item_id(vault, i), title=i, vault_id=vault_id)
            for i in self.op.vaults_data[vault]
        ]

    async def get(self, vault_id: str, item_id: str) -> Item:
        self.op.calls.append(("items.get", item_id))
        vault = self._vault_title(vault_id)
        title = next(i for i in self.op.vaults_data[vault] if self.op.item_id(vault, i) == item_id)
        sections: dict[str, ItemSection] = {}
        fields = []
        for n, (label, value) in enumerate(self.op.vaults_data[vault][title].items()):
            section_id = None
            if "/" in label:
                section, label = label.split("/", 1)
                section_id = f"s-{section}"
                sections[section_id] = ItemSection.model_construct(id=section_id, title=section)
            fields.append(ItemField.model_construct(id=f"f{n}", title=label, section_id=section_id, value=value))
        return Item.model_construct(
            id=item_id, title=title, vault_id=vault_id, fields=fields, sections=list(sections.values())
        )
