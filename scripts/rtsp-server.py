#!/usr/bin/python3
"""A real RTSP server for ninedge's camera tests: GStreamer's gst-rtsp-server plays an MP4 clip
(H.264 or H.265) in a loop to every client, as an IP camera would, on 127.0.0.1.

    scripts/rtsp-server.py --clip clip.mp4 [--codec h264|h265] [--port 0] [--path /stream]
                           [--user U --password P]

It prints "ready rtsp://127.0.0.1:PORT/PATH" on stdout once it listens and runs until SIGTERM
or SIGINT. Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good
(qtdemux, rtph264pay, rtph265pay) and gstreamer1.0-plugins-bad (h264parse, h265parse).
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", required=True)
    ap.add_argument("--codec", choices=("h264", "h265"), default="h264")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--path", default="/stream")
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # The location goes through GStreamer's parser: quote it so a path with spaces works.
    loc = a.clip.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( multifilesrc location="{loc}" loop=true ! qtdemux ! {a.codec}parse '
        f"! rtp{a.codec}pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password or ""), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        sys.exit(f"rtsp-server: cannot listen on 127.0.0.1:{a.port}")

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}{a.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
