"""/v1/tags and /v1/tag_groups (writing)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import DELETED, TAG, TAG_GROUP, obj
from atendo.api.serializers import tag_out
from atendo.core.errors import Invalid
from atendo.core.lengths import column_length
from atendo.core.tags.models import Tag, TagGroup
from atendo.core.tags.service import (
    assign_tags,
    create_tag,
    create_tag_group,
    group_names,
    remove_tag,
)

router = APIRouter(tags=["tags"])


@router.post(
    "/v1/tags",
    **doc(
        "Create a tag",
        [
            Param("tag_group_id", "integer", "group of the tag"),
            Param(
                "tag_label", "string", "label", required=True, max_length=column_length(Tag.label)
            ),
            Param("tag_description", "string", "description"),
            Param(
                "tag_bg_color",
                "string",
                "background colour",
                max_length=column_length(Tag.bg_color),
            ),
            Param(
                "tag_text_color", "string", "text colour", max_length=column_length(Tag.text_color)
            ),
            Param("order_show", "integer", "position"),
        ],
        body=True,
        data=TAG,
        status=201,
    ),
)
def new_tag(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    with ctx.write() as session:
        tag = create_tag(
            session,
            company_id=ctx.company_id,
            label=p.text("tag_label") or p.text("label") or "",
            group_id=p.integer("tag_group_id"),
            description=p.text("tag_description") or "",
            bg_color=p.text("tag_bg_color"),
            text_color=p.text("tag_text_color"),
            order_show=p.integer("order_show") or 0,
        )
        return ok(tag_out(tag, group_names(session, company_id=ctx.company_id)), status_code=201)


@router.post(
    "/v1/tag_groups",
    **doc(
        "Create a tag group",
        [
            Param(
                "tag_group_name",
                "string",
                "name",
                required=True,
                max_length=column_length(TagGroup.name),
            ),
            Param("order_show", "integer", "position"),
            Param("display", "boolean", "shown in the panel"),
        ],
        body=True,
        data=TAG_GROUP,
        status=201,
    ),
)
def new_group(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    with ctx.write() as session:
        group = create_tag_group(
            session,
            company_id=ctx.company_id,
            name=p.text("tag_group_name") or p.text("name") or "",
            order_show=p.integer("order_show") or 0,
            display=p.boolean("display", True) is not False,
        )
        return ok(
            {
                "id": group.id,
                "name": group.name,
                "order_show": group.order_show,
                "display": group.display,
            },
            status_code=201,
        )


@router.post(
    "/v1/tags/assign_to",
    **doc(
        "Put tags on a client or a request",
        [
            Param(
                "tag_ids",
                "integer[]",
                "tags (tag_ids[]=, repeated keys or a JSON array)",
                required=True,
            ),
            Param(
                "assignee_type",
                "string",
                "client or request",
                required=True,
                choices=("client", "request"),
            ),
            Param("assignee_id", "integer", "the client's or request's id", required=True),
        ],
        body=True,
        data=obj({"added": "integer"}),
    ),
)
def assign(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    tag_ids = p.integers("tag_ids")
    assignee_id = p.integer("assignee_id")
    if not tag_ids:
        raise Invalid("tag_ids is required", {"tag_ids": ["required"]})
    if assignee_id is None:
        raise Invalid("assignee_id is required", {"assignee_id": ["required"]})
    with ctx.write() as session:
        added = assign_tags(
            session,
            company_id=ctx.company_id,
            tag_ids=tag_ids,
            assignee_type=p.text("assignee_type") or "",
            assignee_id=assignee_id,
        )
        return ok({"added": added})


@router.delete(
    "/v1/tags/{tag_id}/delete_from",
    **doc(
        "Take a tag off a client or a request",
        [
            Param("client_id", "integer", "the client"),
            Param("request_id", "integer", "or the request"),
        ],
        data=DELETED,
    ),
)
def delete_from(tag_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    client_id, request_id = p.integer("client_id"), p.integer("request_id")
    if (client_id is None) == (request_id is None):
        raise Invalid(
            "exactly one of client_id or request_id is required",
            {"client_id": ["client_id or request_id"]},
        )
    kind, target = ("client", client_id) if client_id is not None else ("request", request_id)
    assert target is not None
    with ctx.write() as session:
        removed = remove_tag(
            session,
            company_id=ctx.company_id,
            tag_id=tag_id,
            assignee_type=kind,
            assignee_id=target,
        )
        return ok({"deleted": int(removed)})
