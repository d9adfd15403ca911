package radius

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// AcctStatus is the Acct-Status-Type of an accounting record (RFC 2866 5.1).
type AcctStatus uint32

// Accounting record types.
const (
	AcctStart         AcctStatus = 1
	AcctStop          AcctStatus = 2
	AcctInterimUpdate AcctStatus = 3
)

// Attribute types of accounting (RFC 2866 5, RFC 2869 5.1).
const (
	TypeFramedIPAddress     Type = 8   // RFC 2865 5.8
	TypeAcctInputOctets     Type = 42  // RFC 2866 5.3
	TypeAcctOutputOctets    Type = 43  // RFC 2866 5.4
	TypeAcctSessionTime     Type = 46  // RFC 2866 5.7
	TypeAcctInputPackets    Type = 47  // RFC 2866 5.8
	TypeAcctOutputPackets   Type = 48  // RFC 2866 5.9
	TypeAcctTerminateCause  Type = 49  // RFC 2866 5.10
	TypeAcctInputGigawords  Type = 52  // RFC 2869 5.1
	TypeAcctOutputGigawords Type = 53  // RFC 2869 5.2
	TypeNASIPv6Address      Type = 95  // RFC 3162 2.1
	TypeFramedIPv6Address   Type = 168 // RFC 6911 3.1
)

// NAS-Port-Type and Service-Type values of an IPsec gateway's sessions.
const (
	NASPortTypeVirtual uint32 = 5 // RFC 2865 5.41
	ServiceTypeFramed  uint32 = 2 // RFC 2865 5.6
)

// Acct-Terminate-Cause values (RFC 2866 5.10) an IKE gateway reports.
const (
	TerminateUserRequest  uint32 = 1
	TerminateIdleTimeout  uint32 = 4
	TerminateAdminReset   uint32 = 6
	TerminateNASRequest   uint32 = 10
	TerminateNASReboot    uint32 = 11
	TerminateLostService  uint32 = 3
	TerminateSessionTimer uint32 = 5
)

// AccountingRecord is one accounting event of a session (an IKE SA).
type AccountingRecord struct {
	Status    AcctStatus
	SessionID string
	UserName  string
	// FramedIP and FramedIP6 are the client's virtual IPs, if it has them.
	FramedIP, FramedIP6 netip.Addr
	// NASPort numbers the session on the gateway (its IKE SA's unique ID);
	// NASIP is the gateway's address, CalledStation and CallingStation the
	// gateway's and the client's as "address[port]", as strongSwan sends.
	NASPort                       uint32
	NASIP                         netip.Addr
	CalledStation, CallingStation string
	// The rest go into Stop and Interim-Update records.
	SessionTime                 time.Duration
	InputOctets, OutputOctets   uint64
	InputPackets, OutputPackets uint32
	TerminateCause              uint32
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Account sends one accounting record (RFC 2866) and waits for the
// Accounting-Response.
func (c *Client) Account(ctx context.Context, r AccountingRecord) error {
	if r.SessionID == "" || len(r.SessionID) > MaxValueLen || len(r.UserName) > MaxValueLen {
		return errors.New("radius: accounting needs a session ID and names of at most 253 octets")
	}
	req := &Packet{Code: CodeAccountingRequest}
	req.Add(TypeAcctStatusType, u32(uint32(r.Status)))
	req.Add(TypeAcctSessionID, []byte(r.SessionID))
	req.Add(TypeNASPortType, u32(NASPortTypeVirtual))
	req.Add(TypeServiceType, u32(ServiceTypeFramed))
	req.Add(TypeNASPort, u32(r.NASPort))
	switch {
	case r.NASIP.Is4() || r.NASIP.Is4In6():
		a := r.NASIP.Unmap().As4()
		req.Add(TypeNASIPAddress, a[:])
	case r.NASIP.Is6():
		a := r.NASIP.As16()
		req.Add(TypeNASIPv6Address, a[:])
	}
	for _, st := range []struct {
		t Type
		v string
	}{{TypeCalledStationID, r.CalledStation}, {TypeCallingStationID, r.CallingStation}, {TypeUserName, r.UserName}} {
		if st.v != "" && len(st.v) <= MaxValueLen {
			req.Add(st.t, []byte(st.v))
		}
	}
	if r.FramedIP.Is4() {
		a := r.FramedIP.As4()
		req.Add(TypeFramedIPAddress, a[:])
	}
	if r.FramedIP6.Is6() && !r.FramedIP6.Is4In6() {
		a := r.FramedIP6.As16()
		req.Add(TypeFramedIPv6Address, a[:])
	}
	if r.Status != AcctStart {
		req.Add(TypeAcctSessionTime, u32(uint32(r.SessionTime/time.Second)))
		req.Add(TypeAcctInputOctets, u32(uint32(r.InputOctets)))
		req.Add(TypeAcctInputGigawords, u32(uint32(r.InputOctets>>32)))
		req.Add(TypeAcctOutputOctets, u32(uint32(r.OutputOctets)))
		req.Add(TypeAcctOutputGigawords, u32(uint32(r.OutputOctets>>32)))
		req.Add(TypeAcctInputPackets, u32(r.InputPackets))
		req.Add(TypeAcctOutputPackets, u32(r.OutputPackets))
	}
	if r.Status == AcctStop && r.TerminateCause != 0 {
		req.Add(TypeAcctTerminateCause, u32(r.TerminateCause))
	}
	resp, _, _, err := c.Exchange(ctx, req, nil)
	if err != nil {
		return err
	}
	if resp.Code != CodeAccountingResponse {
		return fmt.Errorf("radius: %v in answer to Accounting-Request", resp.Code)
	}
	return nil
}
