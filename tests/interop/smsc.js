// A minimal SMSC on the npm `smpp` package (not our code): binds, answers submit_sm with
// hex message ids and sends a delivery receipt for each, in the receipt's decimal form.
// Prints {"port": N} once listening on 127.0.0.1 (ephemeral port).
const smpp = require('smpp');

let nextId = 0x1000;
const stamp = () => {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
};

const server = smpp.createServer({}, (session) => {
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== 'smsengine' || pdu.password !== 'secret') {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    session.send(pdu.response());
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('submit_sm', (pdu) => {
    const id = nextId++;
    session.send(pdu.response({ message_id: id.toString(16) }));
    if (!pdu.registered_delivery) return;
    setTimeout(() => {
      const text = `id:${id} sub:001 dlvrd:001 submit date:${stamp()} done date:${stamp()} stat:DELIVRD err:000 text:`;
      session.deliver_sm({
        source_addr: pdu.destination_addr,
        destination_addr: pdu.source_addr,
        esm_class: 4,
        short_message: text,
      });
    }, 5);
  });
  session.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.on('SIGTERM', () => process.exit(0));
