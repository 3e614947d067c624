/**
 * The soak's sipp scenarios, written per run: the caller and callee of the NG interop test
 * (test/control/scenarios/ng-*.xml: ACK and BYE follow the Record-Route set) with the RTP peer's
 * sockets in their SDP, and in the caller an <exec> that tells the RTP peer (bench/soak/rtp-peer.ts)
 * the relay port of each call once the 200 named it. The hold is sipp's `-d`.
 */

export interface ScenarioOptions {
  /** The FIFO the RTP peer reads. */
  fifo: string;
  /** Port of the RTP peer's caller socket (on the caller's address) and of its callee socket. */
  callerRtpPort: number;
  calleeRtpPort: number;
  /** How long each side sends RTP, from the ACK on. */
  rtpMs: number;
}

const sdp = (user: string, port: number): string => `      v=0
      o=${user} 1001 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[local_ip_type] [local_ip]
      t=0 0
      m=audio ${port} RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=sendrecv`;

/** The relay's address and port from the SDP of the message just received. */
const mediaOf = `    <action>
      <ereg regexp="c=IN IP4 ([0-9.]+)" search_in="body" check_it="true" assign_to="junk1,relayIp" />
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="junk2,relayPort" />
    </action>`;


function startRtp(o: ScenarioOptions): string {
  // sipp does not decode XML entities and runs the command through sh: the path must be plain.
  if (!/^[A-Za-z0-9_./-]+$/.test(o.fifo)) throw new RangeError(`FIFO path must be plain (it goes into a shell command): ${o.fifo}`);
  return `  <nop>
    <action>
      <exec command="echo a [$relayIp] [$relayPort] ${o.rtpMs} > ${o.fifo}" />
    </action>
  </nop>`;
}

export function uacScenario(o: ScenarioOptions): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="pinlatch soak caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:callee@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]caller[call_number]
      To: <sip:callee@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

${sdp('caller', o.callerRtpPort)}
    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="200" rtd="true" rrs="true">
${mediaOf}
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]caller[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
${startRtp(o)}
  <pause />
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]caller[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" />
  <Reference variables="junk1,junk2" />
</scenario>
`;
}

export function uasScenario(o: ScenarioOptions): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="pinlatch soak callee">
  <recv request="INVITE" crlf="true" rrs="true" />
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

${sdp('callee', o.calleeRtpPort)}
    ]]>
  </send>
  <recv request="ACK" crlf="true" />
  <recv request="BYE" />
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`;
}
