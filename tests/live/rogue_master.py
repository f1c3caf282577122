"""A rogue Locust master for the worker-refusal test: ``python rogue_master.py PORT TARGET_URL``.

It waits for one worker, sends it ``examday-go`` with an empty plan digest and
every target pointing at TARGET_URL, and prints the worker's ``examday-done``
report as JSON on stdout."""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from locust.env import Environment  # noqa: E402


def main() -> None:
    port, url = int(sys.argv[1]), sys.argv[2]
    env = Environment(user_classes=[])
    runner = env.create_master_runner("127.0.0.1", port)
    done = []
    runner.register_message("examday-done", lambda environment, msg, **kw: done.append(msg.data))
    print("listening", flush=True)
    deadline = time.time() + 60
    while not runner.clients.ready and time.time() < deadline:
        gevent.sleep(0.1)
    cid = runner.clients.ready[0].id
    targets = {"idp": f"{url}/idp", "platform": f"{url}/platform", "scim": f"{url}/scim", "ss12000": f"{url}/ss",
               "scim_token": "t", "allowed_hosts": [], "login_form": {"form": "login", "username": "username",
                                                                      "password": "password"}}
    config = {"scenario": "x", "run_dir": "/tmp", "run": "rogue", "targets": targets, "digest": "",
              "egress": {"pinned": {"127.0.0.2": ["127.0.0.2"]}, "ports": {}, "any_port": ["127.0.0.2"]}}
    runner.send_message("examday-go", {"config": config, "index": 0, "count": 1, "t0_epoch": time.time()},
                        client_id=cid)
    while not done and time.time() < deadline:
        gevent.sleep(0.1)
    print(json.dumps(done[0] if done else {}), flush=True)
    runner.quit()


if __name__ == "__main__":
    main()
