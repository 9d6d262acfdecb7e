"""Store documents checked against their collection's schema before pymongo writes them.

Each service declares its collections as mongoengine `Document` classes
(services/<service>/schema.py): fields, types, required fields, choices and indexes.
mongoengine describes and validates; the async pymongo client writes the plain dict,
unchanged. Declared fields are checked as they are (no conversion: `"5"` is not an
`IntField`, an ISO text is not a `DateTimeField`); fields a class does not declare pass
(`strict: False`), so a newer writer's extra fields do not break an older reader.

A document that fails is the code's bug, not the user's: user input is checked at the
edges, before anything reaches a store. `SchemaError` says which collection, which
document and which fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, TypeVar

import mongoengine as me
from mongoengine.base import BaseDocument
from mongoengine.errors import ValidationError

# A document as the code builds it (a plain dict, or a service's TypedDict): returned as
# it came, its type kept.
D = TypeVar("D", bound=Mapping[str, Any])
# Off only in the benchmark that measures what the checks cost (bench/storebench.py).
CHECKS = True
# The update operators whose values are (parts of) fields: each is checked by its field.
FIELD_OPERATORS = ("$set", "$setOnInsert", "$max", "$min")


class IndexSpec(TypedDict, total=False):
    """An index of a collection, as mongoengine's `meta["indexes"]` takes it."""
    fields: list[str]  # "-name": descending
    unique: bool
    sparse: bool
    name: str


class DocumentMeta(TypedDict, total=False):
    """mongoengine's `meta` options a collection's class sets (its metaclass reads them
    as a plain dict)."""
    abstract: bool
    strict: bool  # False: fields the class does not declare pass
    collection: str
    indexes: list[IndexSpec]


class IntField(me.IntField):
    """An int as it is stored: mongoengine's would take `"5"` (it converts to check)."""

    def validate(self, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(f"{type(value).__name__} is not an int")
        super().validate(value)


class DateTimeField(me.DateTimeField):
    """A datetime as it is stored: mongoengine's would take an ISO text (it parses)."""

    def validate(self, value: Any) -> None:
        if not isinstance(value, datetime):
            self.error(f"{type(value).__name__} is not a datetime")
        super().validate(value)


class UnitPeriodDocument(me.Document):
    """A collection of one unit's period: `_id` (built from them), `unit_id`, `period`."""

    meta: DocumentMeta = {"abstract": True, "strict": False}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField(required=True)
    period = IntField(required=True)


class KeyedDocument(me.Document):
    """A collection whose `_id` is a string the service builds (a ledger key, a period,
    `provider:message id`, an event id): every document is looked up by it."""

    meta: DocumentMeta = {"abstract": True, "strict": False}
    id = me.StringField(primary_key=True)


class ClusterPeriodDocument(me.Document):
    """A collection of one cluster's period: `_id`, `cluster_id`, `period`."""

    meta: DocumentMeta = {"abstract": True, "strict": False}
    id = me.StringField(primary_key=True)
    cluster_id = me.StringField(required=True)
    period = IntField(required=True)


class SchemaError(ValueError):
    """A document the code built does not match its collection's schema (a bug)."""

    def __init__(self, document: type[BaseDocument], doc_id: Any, errors: Any) -> None:
        self.collection = collection_of(document)
        self.doc_id, self.errors = doc_id, errors
        super().__init__(f"{self.collection} document {doc_id!r} does not match "
                         f"{document.__name__}: {errors}")


def collection_of(document: type[BaseDocument]) -> str:
    return str(document._meta.get("collection") or document.__name__)


def build(document: type[BaseDocument], son: Mapping[str, Any]) -> BaseDocument:
    """The mongoengine object of a stored (or about to be stored) document, its values
    as they are: embedded documents built the same way, undeclared fields left out."""
    values: dict[str, Any] = {}
    for key, value in son.items():
        name = document._reverse_db_field_map.get(key)
        if name is None:
            continue  # not declared: `strict: False`
        values[name] = _value(document._fields[name], value)
    return document(__auto_convert=False, _created=False, **values)


def _value(field: Any, value: Any) -> Any:
    if isinstance(value, dict) and isinstance(field, me.EmbeddedDocumentField):
        return build(field.document_type, value)
    if isinstance(value, list) and isinstance(field, me.ListField) and isinstance(
            field.field, me.EmbeddedDocumentField):
        return [_value(field.field, v) for v in value]
    return value


def validated(document: type[BaseDocument], doc: D) -> D:
    """`doc`, checked against `document` (raises SchemaError); returned unchanged. A
    replacement without `_id` (the filter's) is checked for its other fields."""
    if not CHECKS:
        return doc
    try:
        built = build(document, doc)
        if "_id" not in doc:
            built.pk = ""
        built.validate()
    except (ValidationError, TypeError, ValueError) as exc:
        raise SchemaError(document, doc.get("_id"), _errors(exc)) from exc
    return doc


def validated_update(document: type[BaseDocument], update: D, doc_id: Any = None) -> D:
    """An update's `$set`/`$setOnInsert`/`$max`/`$min` values, each checked by its
    field (an embedded document whole, `field.key` by the field's values); whether the
    required fields are all there is a question for the whole document, not an update."""
    if not CHECKS:
        return update
    for op in FIELD_OPERATORS:
        validated_set(document, update.get(op) or {}, doc_id)
    return update


def validated_set(document: type[BaseDocument], fields: D, doc_id: Any = None) -> D:
    """The fields of a `$set`, each checked by its field (see validated_update)."""
    if not CHECKS:
        return fields
    for path, value in fields.items():
        check_field(document, path, value, doc_id)
    return fields


def check_field(document: type[BaseDocument], path: str, value: Any, doc_id: Any = None
                ) -> None:
    """One field's (`name`, or `name.key` of a map) value, checked by its declaration;
    a path through undeclared fields passes."""
    name, _, rest = path.partition(".")
    field_name = document._reverse_db_field_map.get(name)
    if field_name is None:
        return
    field = document._fields[field_name]
    if rest:  # a map's value, or a part of an embedded document
        if isinstance(field, me.EmbeddedDocumentField):
            check_field(field.document_type, rest, value, doc_id)
            return
        if not isinstance(field, me.DictField) or field.field is None or "." in rest:
            return
        field = field.field
    if value is None:
        if field.required:
            raise SchemaError(document, doc_id, {path: "Field is required"})
        return
    try:
        field._validate(_value(field, value))  # choices, then the field's own checks
    except (ValidationError, TypeError, ValueError) as exc:
        raise SchemaError(document, doc_id, {path: _errors(exc)}) from exc


def _errors(exc: Exception) -> Any:
    if isinstance(exc, ValidationError):
        return exc.to_dict() or exc.message
    return repr(exc)
