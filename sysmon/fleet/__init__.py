"""The fleet: every host's daemon ships its capture files into NATS JetStream; `sysmon -r nats://...`
and `sysmon tail --fleet` read them back (docs/fleet.md).

    config   the [stream] section: servers, stream, host name, limits, credentials and TLS
    options  the command-line options of -r nats:// (light: every command line has them)
    wire     subjects, message ids and the message envelope (host, boot id, file, offsets, sequences)
    spool    the local files as the spool: their order, the acknowledged checkpoint, reading whole frames
    shipper  the daemon's publisher (a thread with its own event loop)
    broker   a synchronous connection for the readers (pull consumers, bounded fetches)
    source   a host's files out of the stream, as replay sources
    replay   `sysmon -r nats://HOST:PORT/STREAM`
    tail     `sysmon tail --fleet nats://...`
"""
