"""``/api/v1/docs``: the OpenAPI document as one server-rendered HTML page.

Plain HTML and CSS, no script and nothing from a CDN (the centres' machines are
on closed networks): operations grouped by tag, each with who may call it, its
parameters, its request body and its answers; the schemas follow, each a table
of its fields, linked from wherever they are used. Everything shown comes from
the document, escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

REF_PREFIX = "#/components/schemas/"
METHOD_ORDER = ("get", "post", "put", "patch", "delete")
CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1f3b63;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;opacity:.85}main{display:flex;gap:24px;padding:20px 32px}
nav{flex:0 0 230px;position:sticky;top:12px;align-self:flex-start;font-size:14px}
nav a{display:block;color:#1f3b63;text-decoration:none;padding:2px 0}nav a:hover{text-decoration:underline}
.content{flex:1;min-width:0}h2{border-bottom:2px solid #1f3b63;padding-bottom:4px;margin-top:28px}
.op{background:#fff;border:1px solid #d8dde6;border-radius:6px;margin:12px 0;padding:10px 16px}
.op h3{margin:4px 0;font-size:16px;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;padding:1px 6px;
margin-right:8px;font-size:13px}.get{background:#2f7d32}.post{background:#1f5fa8}.put,.patch{background:#a8651f}
.delete{background:#a82a1f}.id{color:#667;font-size:13px;margin-left:8px}.roles{font-size:13px;color:#444}
.desc{white-space:pre-wrap;margin:6px 0}table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{border:1px solid #d8dde6;padding:3px 8px;text-align:left;vertical-align:top}th{background:#eef1f5}
code{font-family:ui-monospace,monospace;font-size:13px}h4{margin:10px 0 2px;font-size:14px}
.s2{color:#2f7d32}.s4,.s5{color:#a82a1f}
"""


def _name(ref: str) -> str:
    return ref.removeprefix(REF_PREFIX)


def type_html(schema: dict[str, Any]) -> str:
    """A schema's type in a few words, a named schema as a link to its table."""
    if "$ref" in schema:
        name = escape(_name(str(schema["$ref"])))
        return f'<a href="#schema-{name}"><code>{name}</code></a>'
    if "anyOf" in schema or "oneOf" in schema:
        return " | ".join(type_html(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(str(schema['const']))}</code>"
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_html(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of text to {type_html(schema['additionalProperties'])}"
    text = escape(str(kind)) if kind else "any"
    if "format" in schema:
        text += f" ({escape(str(schema['format']))})"
    limits = [
        f"{label} {schema[key]}"
        for key, label in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
            ("pattern", "pattern"),
        )
        if key in schema
    ]
    if limits:
        text += f" <small>{escape(', '.join(str(x) for x in limits))}</small>"
    return text


def _fields_table(schema: dict[str, Any]) -> str:
    props: dict[str, Any] = schema.get("properties", {})
    if not props:
        return f"<p>{type_html(schema)}</p>"
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(n)}</code></td><td>{type_html(p)}</td>"
        f"<td>{'да' if n in required else 'нет'}</td><td>{escape(str(p.get('description', '')))}</td></tr>"
        for n, p in props.items()
    )
    head = "<tr><th>Поле</th><th>Тип</th><th>Обязательно</th><th>Описание</th></tr>"
    return f"<table>{head}{rows}</table>"


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    op_id = escape(str(op.get("operationId", "")))
    out = [f'<div class="op" id="op-{op_id}">']
    out.append(
        f'<h3><span class="m {escape(method)}">{escape(method.upper())}</span>{escape(path)}'
        f'<span class="id">{op_id}</span></h3>'
    )
    out.append(f"<div><strong>{escape(str(op.get('summary', '')))}</strong></div>")
    if op.get("description"):
        out.append(f'<div class="desc">{escape(str(op["description"]))}</div>')
    if "x-roles" in op:
        pass  # the description's last line names the roles (ctoengine.api.openapi)
    elif not op.get("security"):
        out.append('<div class="roles">Без токена</div>')
    else:
        out.append('<div class="roles">Токен федерации (соседнего центра)</div>')
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(str(p['name']))}</code></td><td>{escape(str(p['in']))}</td>"
            f"<td>{type_html(p.get('schema', {}))}</td><td>{'да' if p.get('required') else 'нет'}</td>"
            f"<td>{escape(str(p.get('description', '')))}</td></tr>"
            for p in params
        )
        out.append(
            "<h4>Параметры</h4><table><tr><th>Имя</th><th>Где</th><th>Тип</th><th>Обязательно</th>"
            f"<th>Описание</th></tr>{rows}</table>"
        )
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        out.append(f"<h4>Тело запроса <code>{escape(media)}</code></h4><p>{type_html(content['schema'])}</p>")
    answers = []
    for status, answer in op.get("responses", {}).items():
        kinds = ", ".join(
            f"<code>{escape(m)}</code> {type_html(c.get('schema', {}))}"
            for m, c in answer.get("content", {}).items()
        )
        answers.append(
            f'<tr><td class="s{escape(status[:1])}">{escape(status)}</td>'
            f"<td>{escape(str(answer.get('description', '')))}</td><td>{kinds}</td></tr>"
        )
    out.append(
        "<h4>Ответы</h4><table><tr><th>Код</th><th>Когда</th><th>Тело</th></tr>"
        + "".join(answers)
        + "</table>"
    )
    out.append("</div>")
    return "".join(out)


def render_docs(spec: dict[str, Any]) -> str:
    tags: list[dict[str, Any]] = spec.get("tags", [])
    by_tag: dict[str, list[str]] = {t["name"]: [] for t in tags}
    for path, methods in spec.get("paths", {}).items():
        for method in sorted(methods, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 9):
            op = methods[method]
            for tag in op.get("tags", ["other"]):
                by_tag.setdefault(tag, []).append(_operation(path, method, op))
    titles = {t["name"]: t.get("description", t["name"]) for t in tags}
    nav = ["<nav><strong>Разделы</strong>"]
    sections = []
    for tag, ops in by_tag.items():
        if not ops:
            continue
        title = escape(str(titles.get(tag, tag)))
        nav.append(f'<a href="#tag-{escape(tag)}">{title}</a>')
        sections.append(f'<h2 id="tag-{escape(tag)}">{title}</h2>' + "".join(ops))
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    nav.append('<a href="#schemas">Схемы данных</a></nav>')
    sections.append('<h2 id="schemas">Схемы данных</h2>')
    for name, schema in sorted(schemas.items()):
        doc = escape(str(schema.get("description", "")))
        sections.append(
            f'<div class="op" id="schema-{escape(name)}"><h3>{escape(name)}</h3>'
            f'<div class="desc">{doc}</div>{_fields_table(schema)}</div>'
        )
    info = spec.get("info", {})
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(str(info.get('title', 'API')))} — описание API</title><style>{CSS}</style></head>"
        f"<body><header><h1>{escape(str(info.get('title', 'API')))} {escape(str(info.get('version', '')))}"
        f" — описание HTTP API</h1><p>{escape(str(info.get('description', '')))}"
        ' Машиночитаемая версия: <a style="color:#fff" href="/api/v1/openapi.json">openapi.json</a>.</p>'
        f'</header><main>{"".join(nav)}<div class="content">{"".join(sections)}</div></main></body></html>'
    )
