// One classroom: an AP and n stations, TCP bulk transfers, for the ns-3 3.44 Python bindings.
//
// Loaded by run_ns3.py with cppyy.cppdef() after `from ns import ns` (which has already
// included every ns-3 module header), so the scenario and its per-packet trace sinks run as
// JIT-compiled C++, not as Python callbacks. One call of classroom::Run() = one seed.

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace classroom
{
using namespace ns3;

/**
 * ConstantRateWifiManager with one constant data mode per receiver: the AP can send at MCS 9
 * to one station and at MCS 2 to another (mixed-rate rooms). Same TX vector as ns-3's
 * ConstantRateWifiManager::DoGetDataTxVector otherwise; RTS/control as there.
 */
class PerStationRateManager : public ConstantRateWifiManager
{
  public:
    static TypeId GetTypeId()
    {
        static TypeId tid = TypeId("classroom::PerStationRateManager")
                                .SetParent<ConstantRateWifiManager>()
                                .SetGroupName("Wifi")
                                .AddConstructor<PerStationRateManager>();
        return tid;
    }

    std::map<Mac48Address, WifiMode> modes;  // receiver -> data mode; others use DataMode

  private:
    WifiTxVector DoGetDataTxVector(WifiRemoteStation* st, MHz_u allowedWidth) override
    {
        WifiMode mode;
        auto it = modes.find(st->m_state->m_address);
        if (it != modes.end())
        {
            mode = it->second;
        }
        else
        {
            StringValue v;
            GetAttribute("DataMode", v);
            mode = WifiMode(v.Get());
        }
        uint8_t nss = std::min(GetMaxNumberOfTransmitStreams(), GetNumberOfSupportedStreams(st));
        if (mode.GetModulationClass() == WIFI_MOD_CLASS_HT)
        {
            nss = 1 + (mode.GetMcsValue() / 8);
        }
        return WifiTxVector(mode,
                            GetDefaultTxPowerLevel(),
                            GetPreambleForTransmission(mode.GetModulationClass(), GetShortPreambleEnabled()),
                            GetGuardIntervalForMode(mode, GetShortGuardIntervalSupported(st), GetGuardInterval(st)),
                            GetNumberOfAntennas(),
                            nss,
                            0,
                            GetPhy()->GetTxBandwidth(mode, std::min(allowedWidth, GetChannelWidth(st))),
                            GetAggregation(st));
    }
};

struct Params
{
    std::string standard = "ax";   // ax | ac | n | g
    std::string channelSettings;   // WifiPhy::ChannelSettings, e.g. "{42, 80, BAND_5GHZ, 0}"
    std::vector<std::string> dataModes;  // per station, e.g. "HeMcs9": both directions' data
    std::string controlMode;       // ConstantRateWifiManager ControlMode
    int giNs = 800;
    int apStreams = 2;
    std::vector<int> staStreams;   // per station; its size is n
    double distance = 2.0;
    uint64_t downloadBytes = 5000000;
    uint64_t uploadBytes = 0;
    double flowStart = 2.0;
    double spread = 1.0;
    double cap = 60.0;
    uint32_t ampduMax = 65535;
    uint32_t seed = 1;
    uint32_t sendSize = 1448;  // BulkSendApplication SendSize: bytes per socket write
    std::string serverRate;    // "" = servers on the AP node; else a wired server behind the AP over a
    std::string serverDelay;   // PointToPoint link of this DataRate ("1Gbps") and one-way Delay ("0.5ms")
    double diagInterval = 0;   // > 0: log the AP's queues every this many s and every AC_BE drop (Result::diag)
};

struct Result
{
    std::vector<double> startOffset;        // per station, s after flowStart
    std::vector<double> downloadDone;       // absolute sim time, -1 = unfinished
    std::vector<double> uploadDone;
    std::vector<double> downloadFirstByte, uploadFirstByte;  // absolute sim time, -1 = none
    double lastAssoc = -1;
    int associated = 0;
    double apData = 0, apOther = 0, staData = 0, staOther = 0;  // airtime, s
    uint64_t ampdusDl = 0, ampdusUl = 0, bytesDl = 0, bytesUl = 0, mpdusDl = 0, mpdusUl = 0;
    std::vector<uint64_t> ampdusDlPerStation, bytesDlPerStation;  // AP data PSDUs to station i
    int rto = 0, fastRecovery = 0, hooked = 0;
    std::vector<int> rtoPerStation, fastRecoveryPerStation;  // both directions' senders of station i
    std::vector<uint64_t> receivedDown, receivedUp;         // application bytes received
    std::map<int, uint64_t> macDrops;   // WifiMacDropReason -> MPDUs dropped (AP and stations)
    uint64_t qdiscDrops = 0, qdiscChildDrops = 0;  // AP root queue disc / its children, packets dropped
    double simEnd = 0;
    std::map<std::string, uint64_t> otherModesSeen;  // WifiMode of non-data PSDUs -> count
    std::map<std::string, uint64_t> dataModesSeen;  // WifiMode of data PSDUs -> count
    std::string queueDisc;
    std::string edca;  // the AP's AC_BE parameters as configured by ns-3 (or its DCF's, without QoS)
    double slotUs = 0, sifsUs = 0;  // the AP PHY's slot and SIFS at the end (ERP short slot is negotiated)
    std::vector<double> staSlotUs;  // each station PHY's slot at the end
    std::map<std::string, uint64_t> drops;  // other drop traces after the first flow start, by name
    std::vector<int> baBufferDl, baBufferUl;  // negotiated BlockAck window (TID 0) AP->i / i->AP at the end, 0 = none
    std::vector<std::string> diag;  // diagInterval > 0: "q t mac qdisc stopped" samples, "drop t node flags bytes mac"
};

struct Run_;

struct PhyTap
{
    Run_* run;
    bool ap;
    Ptr<WifiPhy> phy;
    void Tx(WifiConstPsduMap psdus, WifiTxVector txv, double w);
};

struct SinkTap
{
    Run_* run;
    int sta;
    bool up;
    void Rx(Ptr<const Packet> p, const Address& from);
};

struct Run_
{
    Params prm;
    Result res;
    std::vector<uint64_t> gotDown, gotUp;
    int pending = 0;
    std::vector<PhyTap*> phyTaps;
    std::vector<SinkTap*> sinkTaps;
    std::map<Mac48Address, int> staIndex;

    void Done()
    {
        if (--pending == 0)
        {
            Simulator::Stop();
        }
    }
};

void
PhyTap::Tx(WifiConstPsduMap psdus, WifiTxVector txv, double)
{
    if (Simulator::Now().GetSeconds() < run->prm.flowStart)
    {
        return;
    }
    double d = WifiPhy::CalculateTxDuration(psdus, txv, phy->GetPhyBand()).GetSeconds();
    Result& r = run->res;
    for (const auto& [staId, psdu] : psdus)
    {
        // QoS data (HT/VHT/HE, QoS on); a non-QoS 802.11g station sends plain data frames (HasData: not a Null)
        bool data = psdu->GetNMpdus() > 0 &&
                    (psdu->GetHeader(0).IsQosData() || (psdu->GetHeader(0).IsData() && psdu->GetHeader(0).HasData()));
        std::string mode = txv.GetMode(staId).GetUniqueName();
        if (data)
        {
            (ap ? r.apData : r.staData) += d;
            (ap ? r.ampdusDl : r.ampdusUl) += 1;
            (ap ? r.bytesDl : r.bytesUl) += psdu->GetSize();
            (ap ? r.mpdusDl : r.mpdusUl) += psdu->GetNMpdus();
            if (ap)
            {
                auto it = run->staIndex.find(psdu->GetAddr1());
                if (it != run->staIndex.end())
                {
                    r.ampdusDlPerStation[it->second] += 1;
                    r.bytesDlPerStation[it->second] += psdu->GetSize();
                }
            }
            r.dataModesSeen[mode] += 1;
            if (run->prm.diagInterval > 0)  // --diag: every data PSDU (``tx t sender receiver mpdus retries dur``)
            {
                int retries = 0;
                for (std::size_t k = 0; k < psdu->GetNMpdus(); ++k)
                {
                    retries += psdu->GetHeader(k).IsRetry() ? 1 : 0;
                }
                auto tx = run->staIndex.find(psdu->GetAddr2());
                auto rx = run->staIndex.find(psdu->GetAddr1());
                r.diag.push_back("tx " + std::to_string(Simulator::Now().GetSeconds()) + " " +
                                 (ap ? std::string("ap") : "sta" + std::to_string(tx != run->staIndex.end() ? tx->second : -1)) +
                                 " " + (ap ? "sta" + std::to_string(rx != run->staIndex.end() ? rx->second : -1) : std::string("ap")) +
                                 " " + std::to_string(psdu->GetNMpdus()) + " " + std::to_string(retries) + " " +
                                 std::to_string(d));
            }
        }
        else
        {
            (ap ? r.apOther : r.staOther) += d;
            r.otherModesSeen[mode] += 1;
            if (run->prm.diagInterval > 0 && psdu->GetNMpdus() > 0)  // --diag: ``ctl t sender type dur``
            {
                auto tx = run->staIndex.find(psdu->GetAddr2());
                r.diag.push_back("ctl " + std::to_string(Simulator::Now().GetSeconds()) + " " +
                                 (ap ? std::string("ap") : "sta" + std::to_string(tx != run->staIndex.end() ? tx->second : -1)) +
                                 " " + psdu->GetHeader(0).GetTypeString() + " " + std::to_string(d));
            }
        }
        break;  // SU PPDUs only: one PSDU, duration counted once
    }
}

void
SinkTap::Rx(Ptr<const Packet> p, const Address&)
{
    auto& got = up ? run->gotUp : run->gotDown;
    uint64_t target = up ? run->prm.uploadBytes : run->prm.downloadBytes;
    bool before = got[sta] >= target;
    auto& first = up ? run->res.uploadFirstByte : run->res.downloadFirstByte;
    if (got[sta] == 0)
    {
        first[sta] = Simulator::Now().GetSeconds();
    }
    got[sta] += p->GetSize();
    if (!before && got[sta] >= target)
    {
        (up ? run->res.uploadDone : run->res.downloadDone)[sta] = Simulator::Now().GetSeconds();
        run->Done();
    }
}

void
OnAssoc(Run_* run, Mac48Address)
{
    run->res.associated += 1;
    run->res.lastAssoc = Simulator::Now().GetSeconds();
}

void
OnCong(Run_* run, int sta, TcpSocketState::TcpCongState_t, TcpSocketState::TcpCongState_t now)
{
    if (now == TcpSocketState::CA_LOSS)
    {
        run->res.rto += 1;
        run->res.rtoPerStation[sta] += 1;
    }
    else if (now == TcpSocketState::CA_RECOVERY)
    {
        run->res.fastRecovery += 1;
        run->res.fastRecoveryPerStation[sta] += 1;
    }
}

void
OnMacDrop(Run_* run, WifiMacDropReason why, Ptr<const WifiMpdu>)
{
    if (Simulator::Now().GetSeconds() >= run->prm.flowStart)
    {
        run->res.macDrops[int(why)] += 1;
    }
}

void
CountDrop(Run_* run, std::string what)
{
    if (Simulator::Now().GetSeconds() >= run->prm.flowStart)
    {
        run->res.drops[what] += 1;
    }
}

void
OnIpv4Drop(Run_* run, const Ipv4Header&, Ptr<const Packet>, Ipv4L3Protocol::DropReason why, Ptr<Ipv4>, uint32_t)
{
    CountDrop(run, "ipv4_reason_" + std::to_string(int(why)));
}

void
OnPacketDrop(Run_* run, std::string what, Ptr<const Packet>)
{
    CountDrop(run, what);
}

struct DiagTap
{
    Run_* run;
    Ptr<WifiMacQueue> macq;
    Ptr<QueueDisc> qd;
    Ptr<NetDeviceQueueInterface> ndqi;
    std::vector<Ptr<WifiMacQueue>> staq;  // every station's AC_BE MAC queue

    void Sample()
    {
        int busy = 0;
        uint32_t held = 0;
        for (auto& q : staq)
        {
            busy += q->GetNPackets() > 0 ? 1 : 0;
            held += q->GetNPackets();
        }
        // ``sq t stations-with-queued-frames their-packets``: who contends for uplink
        run->res.diag.push_back("sq " + std::to_string(Simulator::Now().GetSeconds()) + " " + std::to_string(busy) +
                                " " + std::to_string(held));
        std::string stopped;
        for (std::size_t i = 0; ndqi && i < ndqi->GetNTxQueues(); ++i)
        {
            stopped += ndqi->GetTxQueue(i)->IsStopped() ? "1" : "0";
        }
        run->res.diag.push_back("q " + std::to_string(Simulator::Now().GetSeconds()) + " " +
                                std::to_string(macq->GetNPackets()) + " " +
                                std::to_string(qd ? qd->GetNPackets() : 0) + " " + stopped);
        Simulator::Schedule(Seconds(run->prm.diagInterval), &DiagTap::Sample, this);
    }

    void Drop(std::string node, Ptr<const WifiMpdu> mpdu)
    {
        if (Simulator::Now().GetSeconds() < run->prm.flowStart)
        {
            return;
        }
        Ptr<Packet> p = mpdu->GetPacket()->Copy();
        LlcSnapHeader llc;
        Ipv4Header ip;
        TcpHeader tcp;
        std::string what = "?";
        if (p->RemoveHeader(llc) && llc.GetType() == 0x0800 && p->RemoveHeader(ip) && ip.GetProtocol() == 6)
        {
            p->RemoveHeader(tcp);
            what = TcpHeader::FlagsToString(tcp.GetFlags()) + ":" + std::to_string(p->GetSize());
        }
        run->res.diag.push_back("drop " + std::to_string(Simulator::Now().GetSeconds()) + " " + node + " " + what +
                                " " + std::to_string(macq->GetNPackets()));
    }
};

void
OnMpduDrop(Run_* run, std::string what, Ptr<const WifiMpdu>)
{
    CountDrop(run, what);
}

/** --diag: every congestion-window cut of a sender (``cwnd t sta old new`` bytes). */
void
OnCwnd(Run_* run, int sta, uint32_t old, uint32_t now)
{
    if (now < old)
    {
        run->res.diag.push_back("cwnd " + std::to_string(Simulator::Now().GetSeconds()) + " " +
                                std::to_string(sta) + " " + std::to_string(old) + " " + std::to_string(now));
    }
    else if (now / 14480 != old / 14480)  // growth, one line per 10 segments crossed: ``cwup t sta bytes``
    {
        run->res.diag.push_back("cwup " + std::to_string(Simulator::Now().GetSeconds()) + " " +
                                std::to_string(sta) + " " + std::to_string(now));
    }
}

/** --diag: every packet the AP's root queue disc drops (``qdrop t``: CoDel or overflow). */
void
OnQdiscDrop(Run_* run, Ptr<const QueueDiscItem>)
{
    run->res.diag.push_back("qdrop " + std::to_string(Simulator::Now().GetSeconds()));
}

void
HookSocket(Run_* run, int sta, Ptr<BulkSendApplication> app)
{
    Ptr<Socket> s = app->GetSocket();
    if (s)
    {
        run->res.hooked += s->TraceConnectWithoutContext("CongState", MakeBoundCallback(&OnCong, run, sta));
        if (run->prm.diagInterval > 0)
        {
            s->TraceConnectWithoutContext("CongestionWindow", MakeBoundCallback(&OnCwnd, run, sta));
        }
    }
}

/** The effective value of an attribute's default (after Config::SetDefault). */
std::string
AttributeDefault(const std::string& tid, const std::string& name)
{
    TypeId::AttributeInformation info;
    if (!TypeId::LookupByName(tid).LookupAttributeByName(name, &info))
    {
        return "?";
    }
    return info.initialValue->SerializeToString(info.checker);
}

WifiStandard
StandardOf(const std::string& s)
{
    if (s == "ax") return WIFI_STANDARD_80211ax;
    if (s == "ac") return WIFI_STANDARD_80211ac;
    if (s == "n") return WIFI_STANDARD_80211n;
    return WIFI_STANDARD_80211g;
}

Result
Run(const Params& prm)
{
    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(prm.seed);
    auto* run = new Run_();
    run->prm = prm;
    const int n = prm.staStreams.size();
    Result& res = run->res;
    res.downloadDone.assign(n, -1);
    res.uploadDone.assign(n, -1);
    res.downloadFirstByte.assign(n, -1);
    res.uploadFirstByte.assign(n, -1);
    res.rtoPerStation.assign(n, 0);
    res.ampdusDlPerStation.assign(n, 0);
    res.bytesDlPerStation.assign(n, 0);
    res.fastRecoveryPerStation.assign(n, 0);
    run->gotDown.assign(n, 0);
    run->gotUp.assign(n, 0);

    NodeContainer apNode;
    apNode.Create(1);
    NodeContainer stas;
    stas.Create(n);

    YansWifiChannelHelper channel = YansWifiChannelHelper::Default();
    Ptr<YansWifiChannel> ch = channel.Create();
    WifiHelper wifi;
    wifi.SetStandard(StandardOf(prm.standard));
    PerStationRateManager::GetTypeId();
    Ssid ssid("classroom");
    WifiMacHelper mac;

    NetDeviceContainer staDevs;
    for (int i = 0; i < n; ++i)
    {
        wifi.SetRemoteStationManager("classroom::PerStationRateManager",
                                     "DataMode", StringValue(prm.dataModes[i]),
                                     "ControlMode", StringValue(prm.controlMode));
        YansWifiPhyHelper phy;
        phy.SetChannel(ch);
        phy.Set("ChannelSettings", StringValue(prm.channelSettings));
        phy.Set("Antennas", UintegerValue(prm.staStreams[i]));
        phy.Set("MaxSupportedTxSpatialStreams", UintegerValue(prm.staStreams[i]));
        phy.Set("MaxSupportedRxSpatialStreams", UintegerValue(prm.staStreams[i]));
        mac.SetType("ns3::StaWifiMac", "Ssid", SsidValue(ssid),
                    "BE_MaxAmpduSize", UintegerValue(prm.ampduMax));
        staDevs.Add(wifi.Install(phy, mac, stas.Get(i)));
    }
    wifi.SetRemoteStationManager("classroom::PerStationRateManager",
                                 "DataMode", StringValue(prm.dataModes[0]),
                                 "ControlMode", StringValue(prm.controlMode));
    YansWifiPhyHelper apPhy;
    apPhy.SetChannel(ch);
    apPhy.Set("ChannelSettings", StringValue(prm.channelSettings));
    apPhy.Set("Antennas", UintegerValue(prm.apStreams));
    apPhy.Set("MaxSupportedTxSpatialStreams", UintegerValue(prm.apStreams));
    apPhy.Set("MaxSupportedRxSpatialStreams", UintegerValue(prm.apStreams));
    mac.SetType("ns3::ApWifiMac", "Ssid", SsidValue(ssid),
                "BE_MaxAmpduSize", UintegerValue(prm.ampduMax));
    NetDeviceContainer apDev = wifi.Install(apPhy, mac, apNode);

    NetDeviceContainer all(apDev, staDevs);
    auto apRsm = DynamicCast<PerStationRateManager>(
        DynamicCast<WifiNetDevice>(apDev.Get(0))->GetRemoteStationManager());
    for (int i = 0; i < n; ++i)
    {
        Mac48Address a = Mac48Address::ConvertFrom(staDevs.Get(i)->GetAddress());
        apRsm->modes[a] = WifiMode(prm.dataModes[i]);
        run->staIndex[a] = i;
    }
    for (uint32_t i = 0; i < all.GetN(); ++i)
    {
        auto dev = DynamicCast<WifiNetDevice>(all.Get(i));
        if (prm.standard == "ax")
        {
            dev->GetHeConfiguration()->SetGuardInterval(NanoSeconds(prm.giNs));
        }
        else if (prm.standard == "ac" || prm.standard == "n")
        {
            dev->GetHtConfiguration()->SetShortGuardIntervalSupported(prm.giNs == 400);
        }
        auto* tap = new PhyTap{run, i == 0, dev->GetPhy()};
        run->phyTaps.push_back(tap);
        dev->GetPhy()->TraceConnectWithoutContext("PhyTxPsduBegin", MakeCallback(&PhyTap::Tx, tap));
        dev->GetMac()->TraceConnectWithoutContext("DroppedMpdu", MakeBoundCallback(&OnMacDrop, run));
        if (i > 0)
        {
            DynamicCast<StaWifiMac>(dev->GetMac())
                ->TraceConnectWithoutContext("Assoc", MakeBoundCallback(&OnAssoc, run));
        }
    }

    MobilityHelper mobility;
    Ptr<ListPositionAllocator> pos = CreateObject<ListPositionAllocator>();
    pos->Add(Vector(0, 0, 0));
    for (int i = 0; i < n; ++i)
    {
        double a = 2 * M_PI * i / n;  // on a circle: every station exactly `distance` away
        pos->Add(Vector(prm.distance * std::cos(a), prm.distance * std::sin(a), 0));
    }
    mobility.SetPositionAllocator(pos);
    mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
    mobility.Install(apNode);
    mobility.Install(stas);

    InternetStackHelper stack;
    stack.Install(apNode);
    stack.Install(stas);
    Ipv4AddressHelper addr;
    addr.SetBase("10.1.0.0", "255.255.0.0");
    Ipv4InterfaceContainer ifs = addr.Assign(all);
    // the node the TCP servers run on: the AP itself, or a wired server one PointToPoint hop behind it
    Ptr<Node> serverNode = apNode.Get(0);
    Ipv4Address serverIp = ifs.GetAddress(0);
    if (!prm.serverRate.empty())
    {
        NodeContainer server;
        server.Create(1);
        stack.Install(server);
        MobilityHelper fixed;
        fixed.SetMobilityModel("ns3::ConstantPositionMobilityModel");
        fixed.Install(server);
        PointToPointHelper p2p;
        p2p.SetDeviceAttribute("DataRate", StringValue(prm.serverRate));
        p2p.SetChannelAttribute("Delay", StringValue(prm.serverDelay));
        NetDeviceContainer wired = p2p.Install(apNode.Get(0), server.Get(0));
        Ipv4AddressHelper waddr;
        waddr.SetBase("10.2.0.0", "255.255.255.0");
        Ipv4InterfaceContainer wifs = waddr.Assign(wired);
        serverNode = server.Get(0);
        serverIp = wifs.GetAddress(1);
        Ipv4GlobalRoutingHelper::PopulateRoutingTables();
    }
    NeighborCacheHelper neigh;
    neigh.PopulateNeighborCache();  // warm start: static ARP entries, no ARP on air
    Ptr<QueueDisc> qd = apNode.Get(0)->GetObject<TrafficControlLayer>()->GetRootQueueDiscOnDevice(apDev.Get(0));
    res.queueDisc = qd ? qd->GetInstanceTypeId().GetName() : "none";
    if (qd && qd->GetNQueueDiscClasses() > 0)
    {
        res.queueDisc += " with " + std::to_string(qd->GetNQueueDiscClasses()) + " x " +
                         qd->GetQueueDiscClass(0)->GetQueueDisc()->GetInstanceTypeId().GetName();
    }

    {
        // a non-QoS MAC (802.11g by default) has no QosTxop: its DCF Txop instead (GetQosTxop is null there,
        // which is what crashed the first 802.11g trial)
        Ptr<WifiMac> m = DynamicCast<WifiNetDevice>(apDev.Get(0))->GetMac();
        Ptr<Txop> be = m->GetQosSupported() ? Ptr<Txop>(m->GetQosTxop(AC_BE)) : m->GetTxop();
        res.edca = std::string(m->GetQosSupported() ? "AC_BE" : "DCF (non-QoS)") + " AIFSN " +
                   std::to_string(be->GetAifsn(0)) + ", CWmin " + std::to_string(be->GetMinCw(0)) +
                   ", CWmax " + std::to_string(be->GetMaxCw(0)) + ", TXOP limit " +
                   std::to_string(be->GetTxopLimit(0).GetMicroSeconds()) + " us";
    }
    Config::ConnectWithoutContext("/NodeList/*/$ns3::Ipv4L3Protocol/Drop", MakeBoundCallback(&OnIpv4Drop, run));
    Config::ConnectWithoutContext("/NodeList/*/$ns3::ArpL3Protocol/Drop",
                                  MakeBoundCallback(&OnPacketDrop, run, std::string("arp")));
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::WifiNetDevice/Mac/MacTxDrop",
                                  MakeBoundCallback(&OnPacketDrop, run, std::string("mac_tx_drop")));
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::WifiNetDevice/Mac/MacRxDrop",
                                  MakeBoundCallback(&OnPacketDrop, run, std::string("mac_rx_drop")));
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::WifiNetDevice/Phy/PhyTxDrop",
                                  MakeBoundCallback(&OnPacketDrop, run, std::string("phy_tx_drop")));
    // the data queue: BE_Txop's with QoS, the DCF's Txop without (the name says which was seen)
    const bool qos = DynamicCast<WifiNetDevice>(apDev.Get(0))->GetMac()->GetQosSupported();
    const std::string txq = qos ? "BE_Txop" : "Txop";
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::WifiNetDevice/Mac/" + txq + "/Queue/Drop",
                                  MakeBoundCallback(&OnMpduDrop, run, std::string("be_queue_drop")));
    Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::WifiNetDevice/Mac/" + txq + "/Queue/Expired",
                                  MakeBoundCallback(&OnMpduDrop, run, std::string("be_queue_expired")));
    if (prm.diagInterval > 0)
    {
        auto apWifi = DynamicCast<WifiNetDevice>(apDev.Get(0));
        auto* d = new DiagTap{run, apWifi->GetMac()->GetTxopQueue(qos ? AC_BE : AC_BE_NQOS), qd,
                              apWifi->GetObject<NetDeviceQueueInterface>()};
        for (uint32_t i = 1; i < all.GetN(); ++i)
        {
            d->staq.push_back(DynamicCast<WifiNetDevice>(all.Get(i))->GetMac()->GetTxopQueue(qos ? AC_BE : AC_BE_NQOS));
        }
        Simulator::Schedule(Seconds(prm.flowStart), &DiagTap::Sample, d);
        if (qd)
        {
            qd->TraceConnectWithoutContext("Drop", MakeBoundCallback(&OnQdiscDrop, run));
        }
        for (uint32_t i = 0; i < all.GetN(); ++i)
        {
            DynamicCast<WifiNetDevice>(all.Get(i))->GetMac()->GetTxopQueue(AC_BE)->TraceConnectWithoutContext(
                "Drop", MakeCallback(&DiagTap::Drop, d).Bind(std::string(i == 0 ? "ap" : "sta" + std::to_string(i - 1))));
        }
    }
    Ptr<UniformRandomVariable> u = CreateObject<UniformRandomVariable>();
    u->SetAttribute("Min", DoubleValue(0));
    u->SetAttribute("Max", DoubleValue(prm.spread));
    for (int i = 0; i < n; ++i)
    {
        double off = prm.spread > 0 ? u->GetValue() : 0.0;
        res.startOffset.push_back(off);
        Time start = Seconds(prm.flowStart + off);
        Ipv4Address staIp = ifs.GetAddress(i + 1);
        if (prm.downloadBytes > 0)
        {
            uint16_t port = 9;
            PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
            auto sinkApp = DynamicCast<PacketSink>(sink.Install(stas.Get(i)).Get(0));
            sinkApp->SetStartTime(Seconds(0));
            auto* tap = new SinkTap{run, i, false};
            run->sinkTaps.push_back(tap);
            sinkApp->TraceConnectWithoutContext("Rx", MakeCallback(&SinkTap::Rx, tap));
            BulkSendHelper src("ns3::TcpSocketFactory", InetSocketAddress(staIp, port));
            src.SetAttribute("MaxBytes", UintegerValue(prm.downloadBytes));
            src.SetAttribute("SendSize", UintegerValue(prm.sendSize));
            auto app = DynamicCast<BulkSendApplication>(src.Install(serverNode).Get(0));
            app->SetStartTime(start);
            Simulator::Schedule(start + NanoSeconds(1), &HookSocket, run, i, app);
            run->pending += 1;
        }
        if (prm.uploadBytes > 0)
        {
            uint16_t port = 10000 + i;
            PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
            auto sinkApp = DynamicCast<PacketSink>(sink.Install(serverNode).Get(0));
            sinkApp->SetStartTime(Seconds(0));
            auto* tap = new SinkTap{run, i, true};
            run->sinkTaps.push_back(tap);
            sinkApp->TraceConnectWithoutContext("Rx", MakeCallback(&SinkTap::Rx, tap));
            BulkSendHelper src("ns3::TcpSocketFactory", InetSocketAddress(serverIp, port));
            src.SetAttribute("MaxBytes", UintegerValue(prm.uploadBytes));
            src.SetAttribute("SendSize", UintegerValue(prm.sendSize));
            auto app = DynamicCast<BulkSendApplication>(src.Install(stas.Get(i)).Get(0));
            app->SetStartTime(start);
            Simulator::Schedule(start + NanoSeconds(1), &HookSocket, run, i, app);
            run->pending += 1;
        }
    }

    Simulator::Stop(Seconds(prm.flowStart + prm.cap));
    Simulator::Run();
    res.simEnd = Simulator::Now().GetSeconds();
    Ptr<WifiMac> apMac = DynamicCast<WifiNetDevice>(apDev.Get(0))->GetMac();
    res.slotUs = DynamicCast<WifiNetDevice>(apDev.Get(0))->GetPhy()->GetSlot().GetMicroSeconds();
    res.sifsUs = DynamicCast<WifiNetDevice>(apDev.Get(0))->GetPhy()->GetSifs().GetMicroSeconds();
    for (int i = 0; i < n; ++i)
    {
        Ptr<WifiMac> staMac = DynamicCast<WifiNetDevice>(staDevs.Get(i))->GetMac();
        res.staSlotUs.push_back(DynamicCast<WifiNetDevice>(staDevs.Get(i))->GetPhy()->GetSlot().GetMicroSeconds());
        if (!apMac->GetQosSupported())  // no QoS, no BlockAck agreement (every MPDU gets its own Ack)
        {
            res.baBufferDl.push_back(0);
            res.baBufferUl.push_back(0);
            continue;
        }
        auto dl = apMac->GetBaAgreementEstablishedAsOriginator(staMac->GetAddress(), 0);
        auto ul = staMac->GetBaAgreementEstablishedAsOriginator(apMac->GetAddress(), 0);
        res.baBufferDl.push_back(dl ? dl->get().GetBufferSize() : 0);
        res.baBufferUl.push_back(ul ? ul->get().GetBufferSize() : 0);
    }
    if (qd)
    {
        res.qdiscDrops = qd->GetStats().nTotalDroppedPackets;
        for (std::size_t c = 0; c < qd->GetNQueueDiscClasses(); ++c)
        {
            res.qdiscChildDrops += qd->GetQueueDiscClass(c)->GetQueueDisc()->GetStats().nTotalDroppedPackets;
        }
    }
    res.receivedDown = run->gotDown;
    res.receivedUp = run->gotUp;
    Result out = res;
    Simulator::Destroy();
    for (auto* t : run->phyTaps) delete t;
    for (auto* t : run->sinkTaps) delete t;
    delete run;
    return out;
}

}  // namespace classroom
