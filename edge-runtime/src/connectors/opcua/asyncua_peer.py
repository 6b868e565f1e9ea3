"""An independent OPC UA server (Python asyncua) for the edge's integration test.

Serves ns=2;s=Peer.Temp (Double, Good), ns=2;s=Peer.State (String, Good) and ns=2;s=Peer.Sensor
(Double, alternating UncertainLastUsableValue / BadSensorFailure), and integers at the extremes
of their types that never change: ns=2;s=Peer.U64Max (UInt64 2^64-1), Peer.U64Half (UInt64 2^63),
Peer.I64Min (Int64 -2^63), Peer.SByteMin (SByte -128). Every write carries an explicit
source timestamp of 2030-01-01T00:00:00Z + n seconds, so the test can check that the edge keeps
source timestamps and status codes exactly. Prints READY once serving.
"""
import asyncio
import datetime
import sys

from asyncua import Server, ua

BASE = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


async def main(port: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/peer/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace("urn:foodflow:peer")
    obj = await server.nodes.objects.add_object(idx, "Peer")
    temp = await obj.add_variable(ua.NodeId("Peer.Temp", idx), "Temp", 20.0)
    state = await obj.add_variable(ua.NodeId("Peer.State", idx), "State", "idle")
    sensor = await obj.add_variable(ua.NodeId("Peer.Sensor", idx), "Sensor", 1.0)
    for name, value, vtype in [
        ("U64Max", 2**64 - 1, ua.VariantType.UInt64),
        ("U64Half", 2**63, ua.VariantType.UInt64),
        ("I64Min", -(2**63), ua.VariantType.Int64),
        ("SByteMin", -128, ua.VariantType.SByte),
    ]:
        await obj.add_variable(ua.NodeId(f"Peer.{name}", idx), name, ua.Variant(value, vtype))
    async with server:
        print(f"READY ns={idx}", flush=True)
        n = 0
        while True:
            n += 1
            ts = BASE + datetime.timedelta(seconds=n)
            await temp.write_value(
                ua.DataValue(ua.Variant(20.0 + n, ua.VariantType.Double), SourceTimestamp=ts, ServerTimestamp=ts)
            )
            await state.write_value(
                ua.DataValue(ua.Variant(f"step-{n}", ua.VariantType.String), SourceTimestamp=ts, ServerTimestamp=ts)
            )
            code = ua.StatusCodes.UncertainLastUsableValue if n % 2 else ua.StatusCodes.BadSensorFailure
            await sensor.write_value(
                ua.DataValue(
                    ua.Variant(float(n), ua.VariantType.Double),
                    StatusCode=ua.StatusCode(code),
                    SourceTimestamp=ts,
                    ServerTimestamp=ts,
                )
            )
            await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
