"""The console's pages: small server-rendered HTML, one stylesheet and one script (no inline
code, so the Content-Security-Policy forbids every inline script), usable at 360 px."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..channels._texts import detect_language
from ..handoff import AgentInfo, HandoffView, HistoryItem, OrgInfo, OrgStats, Viewer
from ..storage._db import AgentRole, HandoffStatus
from ._auth import CSRF_FIELD
from ._canned import CannedReply
from ._html import Markup, h, join
from ._labels import LANGUAGE_NAMES, UI_LANGUAGES, label

__all__ = [
    "PageContext",
    "Summary",
    "agents_page",
    "chats_page",
    "conversation_page",
    "error_page",
    "history_fragment",
    "login_page",
    "org_page",
    "orgs_page",
    "queue_fragment",
    "queue_page",
    "supervisor_page",
]

SUMMARY_CHARS = 140
MINUTE_S = 60
HOUR_S = 3600


@dataclass(frozen=True)
class PageContext:
    """Who is looking, in which UI language, with which CSRF token, and asset versions."""

    viewer: Viewer | None
    csrf: str
    language: str
    assets: dict[str, str]  # name -> versioned URL

    def t(self, name: str, **values: str) -> str:
        """A console label in the agent's language."""
        return label(name, self.language, **values)


@dataclass(frozen=True)
class Summary:
    """What the citizen asked and what they were told before the handoff."""

    note: str
    asked: list[str]
    told: list[str]


def duration(seconds: float) -> str:
    """12 s / 5 min / 2 h 10 min: waiting times as people read them."""
    if seconds < MINUTE_S:
        return f"{int(seconds)} s"
    if seconds < HOUR_S:
        return f"{int(seconds // MINUTE_S)} min"
    return f"{int(seconds // HOUR_S)} h {int(seconds % HOUR_S // MINUTE_S)} min"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _lang_attr(text: str) -> str:
    return detect_language(text) or "und"


def _csrf_field(ctx: PageContext) -> Markup:
    return h(
        '<input type="hidden" name="{field}" value="{token}">', field=CSRF_FIELD, token=ctx.csrf
    )


def _nav(ctx: PageContext) -> Markup:
    viewer = ctx.viewer
    if viewer is None:
        return Markup("")
    links = [h('<a href="/console/">{t}</a>', t=ctx.t("queue"))]
    if viewer.is_supervisor:
        links.append(h('<a href="/console/supervisor">{t}</a>', t=ctx.t("supervisor")))
    if viewer.is_admin:
        links.append(h('<a href="/console/admin/orgs">{t}</a>', t=ctx.t("organisations")))
        links.append(h('<a href="/console/admin/agents">{t}</a>', t=ctx.t("agents")))
        links.append(h('<a href="/console/admin/chats">{t}</a>', t=ctx.t("chats")))
        links.append(h('<a href="/console/training">{t}</a>', t=ctx.t("training")))
    other = "km" if ctx.language == "en" else "en"
    switch = h(
        '<form method="post" action="/console/lang" class="inline">{csrf}'
        '<input type="hidden" name="lang" value="{other}">'
        '<button type="submit" class="link" lang="{other}">{name}</button></form>',
        csrf=_csrf_field(ctx),
        other=other,
        name=LANGUAGE_NAMES[other].split()[0] if other == "km" else "English",
    )
    logout = h(
        '<form method="post" action="/console/logout" class="inline">{csrf}'
        '<button type="submit" class="link">{t}</button></form>',
        csrf=_csrf_field(ctx),
        t=ctx.t("logout"),
    )
    return h(
        '<nav>{links}<span class="who">{name}</span>{switch}{logout}</nav>',
        links=join(links),
        name=viewer.display_name,
        switch=switch,
        logout=logout,
    )


def layout(ctx: PageContext, title: str, body: Markup, *, page: str, handoff: int = 0) -> str:
    """The page shell: language, viewport, CSRF token for scripts, one CSS, one JS."""
    return h(
        "<!doctype html>\n"
        '<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="csrf-token" content="{csrf}">'
        '<meta name="referrer" content="same-origin">'
        "<title>{title} · SP4ALL</title>"
        '<link rel="stylesheet" href="{css}">'
        '<script src="{js}" defer></script></head>'
        '<body data-page="{page}" data-handoff="{handoff}" data-updated="{updated}">'
        '<header><a class="brand" href="/console/">SP4ALL</a>{nav}</header>'
        "<main>{body}</main></body></html>",
        lang=ctx.language,
        csrf=ctx.csrf,
        title=title,
        css=ctx.assets["console.css"],
        js=ctx.assets["console.js"],
        page=page,
        handoff=handoff,
        updated=ctx.t("updated"),
        nav=_nav(ctx),
        body=body,
    )


# ----- login and errors --------------------------------------------------------------------


def login_page(ctx: PageContext, *, next_path: str, error: str = "") -> str:
    """Username and password; the hidden token is the login form's double-submit token."""
    switch = join(
        h('<a href="/console/login?lang={code}" lang="{code}">{name}</a>', code=c, name=n)
        for c, n in LANGUAGE_NAMES.items()
        if c in UI_LANGUAGES
    )
    body = h(
        '<section class="card narrow"><h1>{title}</h1>{error}'
        '<form method="post" action="/console/login">'
        '<input type="hidden" name="{field}" value="{token}">'
        '<input type="hidden" name="next" value="{next}">'
        '<label>{user}<input name="username" autocomplete="username" required maxlength="64"'
        ' autocapitalize="none" spellcheck="false"></label>'
        '<label>{pw}<input name="password" type="password" autocomplete="current-password"'
        ' required maxlength="256"></label>'
        '<button type="submit">{login}</button></form><p class="switch">{switch}</p></section>',
        title=ctx.t("title"),
        error=h('<p class="error" role="alert">{e}</p>', e=error) if error else Markup(""),
        field=CSRF_FIELD,
        token=ctx.csrf,
        next=next_path,
        user=ctx.t("username"),
        pw=ctx.t("password"),
        login=ctx.t("login"),
        switch=switch,
    )
    return layout(ctx, ctx.t("login"), body, page="login")


def error_page(ctx: PageContext, message: str, back: str) -> str:
    """A refused action, said plainly, with the way back."""
    body = h(
        '<section class="card narrow"><h1>{title}</h1><p class="error" role="alert">{m}</p>'
        '<p><a href="{back}">{b}</a></p></section>',
        title=ctx.t("error"),
        m=message,
        back=back,
        b=ctx.t("back"),
    )
    return layout(ctx, ctx.t("error"), body, page="error")


# ----- queue -------------------------------------------------------------------------------


def _place(ctx: PageContext, view: HandoffView) -> str:
    return view.place_name or view.place_code or ctx.t("unknown")


def queue_fragment(ctx: PageContext, views: Sequence[HandoffView]) -> Markup:
    """The queue list (also fetched alone by the script on live events)."""
    if not views:
        return h('<p class="empty">{t}</p>', t=ctx.t("empty_queue"))
    items = []
    for v in views:
        summary = v.summary if len(v.summary) <= SUMMARY_CHARS else v.summary[:SUMMARY_CHARS] + "…"
        who = v.agent_name or ""
        org = h(" · {o}", o=v.organisation_name) if ctx.viewer and ctx.viewer.is_admin else ""
        items.append(
            h(
                '<li class="item {status} p{prio}"><a href="/console/c/{id}">'
                '<span class="head"><b>#{id}</b> <span class="tag">{reason}</span>'
                ' <span class="tag">{lang}</span>{escalated}</span>'
                '<span class="meta">{place}{org} · {waiting_label} {waiting}'
                '{who}</span><span class="summary" lang="{slang}">{summary}</span></a></li>',
                status=v.status,
                prio=min(v.priority // 10, 10),
                id=v.id,
                reason=v.reason,
                lang=LANGUAGE_NAMES.get(v.language, v.language),
                escalated=Markup(' <span class="tag warn">escalated</span>')
                if v.escalated
                else "",
                place=_place(ctx, v),
                org=org,
                waiting_label=ctx.t("waiting"),
                waiting=duration(v.waiting_s),
                who=h(" · {s}: {w}", s=ctx.t("answered_by"), w=who) if who else "",
                slang=_lang_attr(v.summary),
                summary=summary,
            )
        )
    return h('<ul class="queue">{items}</ul>', items=join(items))


def queue_page(ctx: PageContext, views: Sequence[HandoffView]) -> str:
    """Open conversations, most urgent first; refreshed live."""
    body = h(
        '<h1>{t}</h1><div id="live" data-src="/console/partial/queue">{list}</div>',
        t=ctx.t("queue"),
        list=queue_fragment(ctx, views),
    )
    return layout(ctx, ctx.t("queue"), body, page="queue")


# ----- one conversation --------------------------------------------------------------------


def history_fragment(ctx: PageContext, items: Sequence[HistoryItem]) -> Markup:
    """Every turn, oldest first: citizen, assistant, agent, private notes, events."""
    names = {
        "citizen": ctx.t("citizen"),
        "assistant": ctx.t("assistant"),
        "agent": ctx.t("agent"),
        "note": ctx.t("private_note"),
        "event": ctx.t("event"),
    }
    rows = [
        h(
            '<li class="turn {author}"><span class="by">{who}<time>{at}</time></span>'
            '<span class="text" lang="{lang}">{text}</span></li>',
            author=i.author,
            who=(
                f"{names.get(i.author, i.author)} · {i.agent_name}"
                if i.agent_name
                else names.get(i.author, i.author)
            ),
            at=_time(i.at),
            lang=_lang_attr(i.text),
            text=i.text,
        )
        for i in items
    ]
    return h('<ol class="history">{rows}</ol>', rows=join(rows))


def _summary(ctx: PageContext, summary: Summary) -> Markup:
    def lines(values: list[str]) -> Markup:
        return join(h('<li lang="{l}">{v}</li>', l=_lang_attr(v), v=v) for v in values)

    return h(
        '<section class="card"><h2>{title}</h2><p lang="{nl}">{note}</p>'
        "<h3>{asked}</h3><ul>{a}</ul><h3>{told}</h3><ul>{t}</ul></section>",
        title=ctx.t("summary"),
        nl=_lang_attr(summary.note),
        note=summary.note,
        asked=ctx.t("asked"),
        a=lines(summary.asked),
        told=ctx.t("told"),
        t=lines(summary.told),
    )


def _actions(
    ctx: PageContext,
    view: HandoffView,
    canned: Sequence[CannedReply],
    orgs: Sequence[OrgInfo],
    agents: Sequence[AgentInfo],
) -> Markup:
    viewer = ctx.viewer
    assert viewer is not None  # noqa: S101 (pages need a login)
    base = f"/console/api/handoffs/{view.id}"
    parts: list[Markup] = []
    if view.status == HandoffStatus.CLOSED:
        return Markup("")
    if view.status == HandoffStatus.QUEUED:
        parts.append(
            h(
                '<form method="post" action="{base}/claim">{csrf}'
                '<button type="submit" id="claim">{t}</button></form>',
                base=base,
                csrf=_csrf_field(ctx),
                t=ctx.t("claim"),
            )
        )
    mine = view.status == HandoffStatus.CLAIMED and view.agent_id == viewer.agent_id
    if mine:
        first = "en" if view.language == "en" else "km"
        ordered = [(r, first) for r in canned] + [
            (r, "km" if first == "en" else "en") for r in canned
        ]
        values = {"agent": viewer.display_name, "org": view.organisation_name}
        buttons = join(
            h(
                '<button type="button" class="canned" lang="{lang}" data-text="{text}">'
                "{short}</button>",
                lang=lang,
                text=r.text(lang, **values),
                short=r.text(lang, **values)[:48]
                + ("…" if len(r.text(lang, **values)) > 48 else ""),
            )
            for r, lang in ordered
        )
        parts.append(
            h(
                '<form method="post" action="{base}/reply" class="card">{csrf}'
                '<label for="reply">{t}</label>'
                '<textarea id="reply" name="text" rows="4" maxlength="4000" required'
                ' lang="{lang}"></textarea>'
                '<details><summary>{canned}</summary><div class="canned-list">{buttons}</div>'
                '</details><button type="submit" id="send">{send}</button></form>',
                base=base,
                csrf=_csrf_field(ctx),
                t=ctx.t("reply"),
                lang=first,
                canned=ctx.t("canned"),
                buttons=buttons,
                send=ctx.t("send"),
            )
        )
    parts.append(
        h(
            '<form method="post" action="{base}/note" class="card">{csrf}'
            '<label for="note">{t}</label><textarea id="note" name="text" rows="2"'
            ' maxlength="4000" required></textarea><button type="submit">{save}</button></form>',
            base=base,
            csrf=_csrf_field(ctx),
            t=ctx.t("note"),
            save=ctx.t("save_note"),
        )
    )
    may_move = viewer.is_supervisor or mine or view.status == HandoffStatus.QUEUED
    if may_move:
        org_options = join(
            h('<option value="{id}">{name}</option>', id=o.id, name=o.name)
            for o in orgs
            if o.id != view.organisation_id
        )
        agent_options = join(
            h(
                '<option value="{id}">{name} ({org})</option>',
                id=a.id,
                name=a.display_name,
                org=a.organisation_name,
            )
            for a in agents
            if a.id != view.agent_id
        )
        parts.append(
            h(
                '<form method="post" action="{base}/transfer" class="card row">{csrf}'
                '<label>{t} {to_org}<select name="organisation_id"><option value=""></option>'
                "{orgs}</select></label>"
                '<label>{to_agent}<select name="agent_id"><option value=""></option>{agents}'
                '</select></label><button type="submit">{t}</button></form>',
                base=base,
                csrf=_csrf_field(ctx),
                t=ctx.t("transfer"),
                to_org=ctx.t("to_org"),
                orgs=org_options,
                to_agent=ctx.t("to_agent"),
                agents=agent_options,
            )
        )
    if viewer.is_supervisor or mine or view.status == HandoffStatus.QUEUED:
        parts.append(
            h(
                '<form method="post" action="{base}/close" class="confirm" data-confirm="{q}">'
                '{csrf}<button type="submit" id="close" class="danger">{t}</button></form>',
                base=base,
                q=ctx.t("close_confirm"),
                csrf=_csrf_field(ctx),
                t=ctx.t("close"),
            )
        )
    return join(parts)


def conversation_page(
    ctx: PageContext,
    view: HandoffView,
    history: Sequence[HistoryItem],
    summary: Summary,
    canned: Sequence[CannedReply],
    orgs: Sequence[OrgInfo],
    agents: Sequence[AgentInfo],
) -> str:
    """Header, summary, the whole history (live), and what the viewer may do."""
    facts = [
        (ctx.t("status"), view.status + (f" · {view.agent_name}" if view.agent_name else "")),
        (ctx.t("reason"), view.reason + (f" · {view.topic}" if view.topic else "")),
        (ctx.t("priority"), str(view.priority)),
        (ctx.t("language"), LANGUAGE_NAMES.get(view.language, view.language)),
        (ctx.t("place"), _place(ctx, view)),
        (ctx.t("organisation"), view.organisation_name),
        (ctx.t("waiting"), duration(view.waiting_s)),
    ]
    header = join(h("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in facts)
    body = h(
        '<h1>#{id} <span class="tag">{channel}</span></h1><div class="cols">'
        '<div class="main"><dl class="facts">{header}</dl>'
        '<h2>{history_title}</h2><div id="live" data-src="/console/partial/c/{id}">{history}</div>'
        "</div><aside>{actions}{summary}</aside></div>",
        id=view.id,
        channel=view.channel,
        header=header,
        history_title=ctx.t("history"),
        history=history_fragment(ctx, history),
        actions=_actions(ctx, view, canned, orgs, agents),
        summary=_summary(ctx, summary),
    )
    return layout(ctx, f"#{view.id}", body, page="conversation", handoff=view.id)


# ----- supervisor and admin ----------------------------------------------------------------


def supervisor_page(ctx: PageContext, stats: Sequence[OrgStats]) -> str:
    """Queue lengths, waiting times, load per agent and satisfaction per organisation."""
    rows = join(
        h(
            "<tr><th scope=row>{name}</th><td>{queued}</td><td>{claimed}</td><td>{oldest}</td>"
            "<td>{mean}</td><td>{claim}</td><td>{load}</td><td>{rating}</td></tr>",
            name=s.name,
            queued=s.queued,
            claimed=s.claimed,
            oldest=duration(s.oldest_wait_s),
            mean=duration(s.mean_wait_s),
            claim=duration(s.mean_claim_s) if s.mean_claim_s is not None else "–",
            load=", ".join(f"{k}: {v}" for k, v in sorted(s.load.items())) or "–",
            rating=f"{s.rating_mean:.1f} ({s.ratings})" if s.rating_mean is not None else "–",
        )
        for s in stats
    )
    heads = ["organisation", "queued_n", "claimed_n", "oldest_wait", "mean_wait", "mean_claim"]
    heads += ["load", "satisfaction"]
    body = h(
        '<h1>{t}</h1><div class="scroll"><table><thead><tr>{heads}</tr></thead>'
        "<tbody>{rows}</tbody></table></div>",
        t=ctx.t("supervisor"),
        heads=join(h("<th scope=col>{h}</th>", h=ctx.t(k)) for k in heads),
        rows=rows,
    )
    return layout(ctx, ctx.t("supervisor"), body, page="supervisor")


def _notice(message: str) -> Markup:
    return h('<p class="notice" role="status">{m}</p>', m=message) if message else Markup("")


def _org_form(ctx: PageContext, org: OrgInfo | None) -> Markup:
    action = f"/console/admin/orgs/{org.id}" if org else "/console/admin/orgs"
    return h(
        '<form method="post" action="{action}" class="card grid">{csrf}{slug}'
        '<label>Name<input name="name" required maxlength="200" value="{name}"></label>'
        '<label>Languages (km,en)<input name="languages" value="{langs}"></label>'
        '<label>Topics (empty = all)<input name="topics" value="{topics}"></label>'
        '<label>Areas: gazetteer codes (empty = whole country)<input name="areas" value="{areas}">'
        "</label>"
        '<label>Office hours, Asia/Phnom_Penh (JSON, empty = always)<textarea name="office_hours"'
        ' rows="2">{hours}</textarea></label>'
        '<label>Service level (minutes)<input name="sla_minutes" type="number" min="1"'
        ' value="{sla}"></label>{active}<button type="submit">{save}</button></form>',
        action=action,
        csrf=_csrf_field(ctx),
        slug=Markup("")
        if org
        else h('<label>Id (a-z 0-9 - _)<input name="slug" required maxlength="64"></label>'),
        name=org.name if org else "",
        langs=",".join(org.languages) if org else "km,en",
        topics=",".join(org.topics) if org else "",
        areas=",".join(org.areas) if org else "",
        hours=json.dumps(org.office_hours, ensure_ascii=False) if org and org.office_hours else "",
        sla=org.sla_minutes if org else 30,
        active=h(
            '<label><input type="checkbox" name="active" value="1"{c}> active</label>',
            c=Markup(" checked") if org.active else "",
        )
        if org and not org.national_pool
        else "",
        save=ctx.t("save") if org else ctx.t("add"),
    )


def orgs_page(ctx: PageContext, orgs: Sequence[OrgInfo], notice: str = "") -> str:
    """Every organisation, with coverage in words, and a form to add one."""
    rows = join(
        h(
            '<tr><td><a href="/console/admin/orgs/{id}">{slug}</a></td><td>{name}</td>'
            "<td>{langs}</td><td>{topics}</td><td>{areas}</td><td>{hours}</td><td>{sla}</td>"
            "<td>{state}</td></tr>",
            id=o.id,
            slug=o.slug,
            name=o.name,
            langs=",".join(o.languages) or "all",
            topics=",".join(o.topics) or "all",
            areas="; ".join(o.area_names) or "whole country",
            hours=json.dumps(o.office_hours, ensure_ascii=False) if o.office_hours else "always",
            sla=o.sla_minutes,
            state=("national pool " if o.national_pool else "")
            + ("active" if o.active else "inactive"),
        )
        for o in orgs
    )
    body = h(
        '<h1>{t}</h1>{notice}<div class="scroll"><table><thead><tr><th>id</th><th>name</th>'
        "<th>languages</th><th>topics</th><th>areas</th><th>hours</th><th>SLA min</th><th></th>"
        "</tr></thead><tbody>{rows}</tbody></table></div><h2>{add}</h2>{form}",
        t=ctx.t("organisations"),
        notice=_notice(notice),
        rows=rows,
        add=ctx.t("add"),
        form=_org_form(ctx, None),
    )
    return layout(ctx, ctx.t("organisations"), body, page="admin")


def org_page(ctx: PageContext, org: OrgInfo, notice: str = "") -> str:
    """Edit one organisation."""
    body = h(
        "<h1>{name}</h1>{notice}<p>{areas}</p>{form}",
        name=org.name,
        notice=_notice(notice),
        areas="; ".join(org.area_names) or "whole country",
        form=_org_form(ctx, org),
    )
    return layout(ctx, org.name, body, page="admin")


def _role_select(current: str) -> Markup:
    return join(
        h(
            '<option value="{r}"{s}>{r}</option>',
            r=r,
            s=Markup(" selected") if r == current else "",
        )
        for r in AgentRole.ALL
    )


def _org_select(orgs: Sequence[OrgInfo], current: int | None) -> Markup:
    return join(
        h(
            '<option value="{id}"{s}>{name}</option>',
            id=o.id,
            name=o.name,
            s=Markup(" selected") if o.id == current else "",
        )
        for o in orgs
        if o.active
    )


def agents_page(
    ctx: PageContext, agents: Sequence[AgentInfo], orgs: Sequence[OrgInfo], notice: str = ""
) -> str:
    """Agents with role, organisation and activity; add, change, reset a password."""
    rows = join(
        h(
            "<tr><td>{user}</td><td>"
            '<form method="post" action="/console/admin/agents/{id}" class="row">{csrf}'
            '<input name="display_name" value="{name}" maxlength="200" required>'
            '<select name="role">{roles}</select><select name="organisation">{orgs}</select>'
            '<label><input type="checkbox" name="active" value="1"{active}> active</label>'
            '<button type="submit">{save}</button></form></td><td>'
            '<form method="post" action="/console/admin/agents/{id}/password">{csrf}'
            '<button type="submit">{pw}</button></form></td></tr>',
            user=a.username,
            id=a.id,
            csrf=_csrf_field(ctx),
            name=a.display_name,
            roles=_role_select(a.role),
            orgs=_org_select(orgs, a.organisation_id),
            active=Markup(" checked") if a.active else "",
            save=ctx.t("save"),
            pw=ctx.t("new_password"),
        )
        for a in agents
    )
    form = h(
        '<form method="post" action="/console/admin/agents" class="card grid">{csrf}'
        '<label>{user}<input name="username" required maxlength="64"></label>'
        '<label>Name<input name="display_name" required maxlength="200"></label>'
        '<label>Role<select name="role">{roles}</select></label>'
        '<label>{org}<select name="organisation">{orgs}</select></label>'
        '<button type="submit">{add}</button></form>',
        csrf=_csrf_field(ctx),
        user=ctx.t("username"),
        roles=_role_select(AgentRole.AGENT),
        org=ctx.t("organisation"),
        orgs=_org_select(orgs, None),
        add=ctx.t("add"),
    )
    body = h(
        '<h1>{t}</h1>{notice}<div class="scroll"><table><tbody>{rows}</tbody></table></div>'
        "<h2>{add}</h2>{form}",
        t=ctx.t("agents"),
        notice=_notice(notice),
        rows=rows,
        add=ctx.t("add"),
        form=form,
    )
    return layout(ctx, ctx.t("agents"), body, page="admin")


def chats_page(ctx: PageContext, chats: Sequence[dict[str, str]]) -> str:
    """Conversations the assistant is having, for an admin to take over (admins only)."""
    rows = join(
        h(
            "<tr><td>{channel}</td><td>{chat}</td><td>{lang}</td><td>{at}</td><td>"
            '<form method="post" action="/console/api/takeover">{csrf}'
            '<input type="hidden" name="channel" value="{channel}">'
            '<input type="hidden" name="chat_id" value="{chat}">'
            '<button type="submit">{t}</button></form></td></tr>',
            channel=c["channel"],
            chat=c["chat_id"],
            lang=c["language"],
            at=c["updated_at"],
            csrf=_csrf_field(ctx),
            t=ctx.t("take_over"),
        )
        for c in chats
    )
    body = h(
        '<h1>{t}</h1><div class="scroll"><table><tbody>{rows}</tbody></table></div>',
        t=ctx.t("chats"),
        rows=rows,
    )
    return layout(ctx, ctx.t("chats"), body, page="admin")
