"""A minimal stand-in for IdP + platform with the reference URL layout, for
timing tests and the generator benchmark: ``python -m simulator.live.fake``.

It does no cryptography and no persistence, so what a client measures
against it is the client's own cost plus a delay the test chose:
``--delay ROUTE=SECONDS`` adds an ``asyncio.sleep`` to one route (``login``,
``sso``, ``credentials``, ``acs``, ``manifest``, ``content``, ``answers``,
``submit``, ``plain``), which is the independent measurement step timings
must reproduce. Pages look like the reference IdP's (a login form whose
action ends in ``/login``, an auto-submitting ``SAMLResponse`` form).

``--gateway`` puts an access gateway between platform and IdP (the DNP
chain): platform → 302 ``/gw/sso`` → auto-submitting ``SAMLRequest`` form to
the IdP → login → ``SAMLResponse`` form to ``/gw/acs`` → auto-submitting
``SAMLResponse`` form to the platform's ACS (two SAML hops).

``--rogue URL --rogue-modes redirect,form,manifest,autosave`` makes it a
hostile server for the egress tests: the k-th login gets the k-th mode
(round robin, carried in its session cookie) and points that device at URL —
the platform's login redirects there, the IdP's form action, a manifest part
or the autosave URL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import urllib.parse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["build_app", "main", "PARTS"]

PARTS = (("questions", 50_000), ("audio", 400_000))
SAML = base64.b64encode(os.urandom(6000)).decode()
LOGIN_PAGE = ('<!DOCTYPE html><html><head><title>Logga in</title></head><body><h1>Logga in</h1>'
              '<form method="post" action="/idp/login"><input name="username"><input name="password" type="password">'
              '<input type="hidden" name="ctx" value="{ctx}"><button type="submit">Logga in</button></form></body></html>')
POST_PAGE = ('<!DOCTYPE html><html><body onload="document.forms[0].submit()"><form method="post" '
             'action="{acs}"><input type="hidden" name="SAMLResponse" value="{saml}">'
             '<input type="hidden" name="RelayState" value="/platform/api/me"><noscript><button>Continue</button>'
             '</noscript></form></body></html>')


def build_app(delays: dict[str, float] | None = None, rogue: str = "", modes: tuple[str, ...] = (),
              gateway: bool = False) -> Starlette:
    delays = dict(delays or {})
    blobs = {name: b"\0" * size for name, size in PARTS}
    stats = {"answers": 0, "logins": 0}

    def mode_of(request: Request) -> str:
        return request.cookies.get("examday_rogue", "")

    async def pause(route: str) -> None:
        d = delays.get(route, 0.0)
        if d:
            await asyncio.sleep(d)

    async def login(request: Request) -> Response:
        await pause("login")
        mode = modes[stats["logins"] % len(modes)] if modes else ""
        stats["logins"] += 1
        if mode == "redirect":
            return RedirectResponse(rogue, 302)
        if gateway:
            return RedirectResponse("/gw/sso?SAMLRequest=Z3c&RelayState=%2Fplatform%2Fapi%2Fme", 302)
        resp = RedirectResponse("/idp/sso?SAMLRequest=fVLLbtswEPwVgXdZD7tJTFgG3BhFDaStYas99FJQ1MomQJEqd9XHf9uXQ&RelayState="
                                "%2Fplatform%2Fapi%2Fme", 302)
        if mode:
            resp.set_cookie("examday_rogue", mode, path="/")
        return resp

    async def sso(request: Request) -> Response:
        await pause("sso")
        page = LOGIN_PAGE.format(ctx="c" * 200)
        if mode_of(request) == "form":
            page = page.replace('action="/idp/login"', f'action="{rogue}"')
        return HTMLResponse(page)

    async def credentials(request: Request) -> Response:
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        await pause("credentials")
        if not form.get("username") or not form.get("password"):
            return HTMLResponse('<form action="/idp/login"><p class="error">missing</p></form>', 401)
        return HTMLResponse(POST_PAGE.format(acs="/gw/acs" if gateway else "/platform/acs", saml=SAML))

    async def gw_sso(request: Request) -> Response:  # the gateway, as an SP, asks the school IdP
        return HTMLResponse(POST_PAGE.replace("SAMLResponse", "SAMLRequest").format(acs="/idp/sso", saml="cmVx"))

    async def gw_acs(request: Request) -> Response:  # ... and, as an IdP, answers the platform
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        if not form.get("SAMLResponse"):
            return Response("no SAMLResponse", 400)
        return HTMLResponse(POST_PAGE.format(acs="/platform/acs", saml=SAML))

    async def acs(request: Request) -> Response:
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        await pause("acs")
        if not form.get("SAMLResponse"):
            return Response("no SAMLResponse", 400)
        resp = RedirectResponse(str(form.get("RelayState") or "/platform/api/me"), 303)
        resp.set_cookie("examday_dnp", "session-" + "s" * 100, path="/platform", httponly=True)
        return resp

    def session(request: Request) -> bool:
        return request.cookies.get("examday_dnp", "").startswith("session-")

    async def me(request: Request) -> Response:
        if not session(request):
            return JSONResponse({"error": "not-logged-in"}, 401)
        return JSONResponse({"user": "u", "eppn": "e"})

    async def manifest(request: Request) -> Response:
        await pause("manifest")
        if not session(request):
            return JSONResponse({"error": "not-logged-in"}, 401)
        mode = mode_of(request)
        parts = [{"name": n, "size": s, "url": f"/platform/content/fake/{n}"} for n, s in PARTS]
        if mode == "manifest":
            parts[-1]["url"] = rogue
        return JSONResponse({"test": "fake", "state": "open", "parts": parts,
                             "autosave": {"url": rogue if mode == "autosave" else "/platform/api/answers"},
                             "submit": {"url": "/platform/api/submit"}})

    async def content(request: Request) -> Response:
        await pause("content")
        if not session(request):
            return JSONResponse({"error": "not-logged-in"}, 401)
        return Response(blobs[request.path_params["part"]], media_type="application/octet-stream")

    async def answers(request: Request) -> Response:
        body = await request.body()
        await pause("answers")
        stats["answers"] += 1
        return JSONResponse({"ok": True, "seq": int(request.query_params.get("seq", 0)), "bytes": len(body)})

    async def submit(request: Request) -> Response:
        await request.body()
        await pause("submit")
        return JSONResponse({"ok": True, "receipt": "r"})

    async def plain(request: Request) -> Response:
        await pause("plain")
        return Response(b"ok\n" * 100, media_type="text/plain")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "answers": stats["answers"]})

    return Starlette(routes=[
        Route("/platform/login", login), Route("/idp/sso", sso, methods=["GET", "POST"]),
        Route("/gw/sso", gw_sso), Route("/gw/acs", gw_acs, methods=["POST"]), Route("/idp/login", credentials, methods=["POST"]),
        Route("/platform/acs", acs, methods=["POST"]), Route("/platform/api/me", me),
        Route("/platform/api/manifest", manifest), Route("/platform/content/fake/{part}", content),
        Route("/platform/api/answers", answers, methods=["POST"]),
        Route("/platform/api/submit", submit, methods=["POST"]), Route("/plain", plain), Route("/health", health)])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m simulator.live.fake")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", action="append", default=[], metavar="ROUTE=SECONDS")
    p.add_argument("--gateway", action="store_true", help="an access gateway between platform and IdP")
    p.add_argument("--rogue", default="", metavar="URL", help="the off-target URL of the rogue modes")
    p.add_argument("--rogue-modes", default="", help="comma-separated: redirect, form, manifest, autosave")
    a = p.parse_args(argv)
    delays = {k: float(v) for k, v in (d.split("=", 1) for d in a.delay)}
    modes = tuple(m for m in a.rogue_modes.split(",") if m)
    uvicorn.run(build_app(delays, a.rogue, modes, a.gateway), host="127.0.0.1", port=a.port, log_level="warning", access_log=False,
                timeout_keep_alive=60, lifespan="off")


if __name__ == "__main__":
    main()
