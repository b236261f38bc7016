package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newUsersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage users' SCRAM credentials",
		Long: `Manage the SCRAM-SHA-256 and SCRAM-SHA-512 credentials that SASL listeners check,
like kafka-configs.sh --entity-type users --alter --add-config 'SCRAM-SHA-256=[...]'.
The password is salted on this side; the cluster keeps only the salt, the iteration
count and the keys derived from them.`,
		Example: `  gregor users scram set alice --password-stdin < alice.pw
  gregor users scram set alice --mechanism SCRAM-SHA-512 --iterations 8192 --password alice-secret
  gregor users scram describe
  gregor users scram delete alice --mechanism SCRAM-SHA-256`,
		Args: noArgs,
	}
	scram := &cobra.Command{
		Use:   "scram",
		Short: "Set, describe and delete SCRAM credentials",
		Example: `  gregor users scram set alice --password-stdin < alice.pw
  gregor users scram describe alice`,
		Args: noArgs,
	}
	scram.AddCommand(newScramSet(g), newScramDescribe(g), newScramDelete(g))
	cmd.AddCommand(scram)
	return cmd
}

// parseMechanisms parses --mechanism values.
func parseMechanisms(ms []string) ([]kadm.ScramMechanism, error) {
	var out []kadm.ScramMechanism
	for _, m := range ms {
		for _, part := range strings.Split(m, ",") {
			switch strings.ToUpper(strings.TrimSpace(part)) {
			case "SCRAM-SHA-256":
				out = append(out, kadm.ScramSha256)
			case "SCRAM-SHA-512":
				out = append(out, kadm.ScramSha512)
			case "":
			default:
				return nil, usagef("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", part)
			}
		}
	}
	if len(out) == 0 {
		return nil, usagef("--mechanism is empty")
	}
	return out, nil
}

// scramResult is the outcome of setting or deleting one credential.
type scramResult struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
	Error     string `json:"error,omitempty"`
}

// writeScramResults prints results and fails if any failed.
func writeScramResults(cmd *cobra.Command, g *globals, verb string, res kadm.AlteredUserSCRAMs, mechs []kadm.ScramMechanism) error {
	var out []scramResult
	var failed error
	for _, r := range res.Sorted() {
		for _, m := range mechs {
			sr := scramResult{User: r.User, Mechanism: m.String()}
			if r.Err != nil {
				err := respErr(r.Err, r.ErrMessage)
				sr.Error = err.Error()
				failed = errors.Join(failed, fmt.Errorf("user %s: %w", r.User, err))
			}
			out = append(out, sr)
		}
	}
	w := cmd.OutOrStdout()
	if g.json() {
		if err := writeJSON(w, out); err != nil {
			return err
		}
		return failed
	}
	for _, r := range out {
		if r.Error == "" {
			fmt.Fprintf(w, "%s %s credential of user %s\n", verb, r.Mechanism, r.User)
		}
	}
	return failed
}

func newScramSet(g *globals) *cobra.Command {
	var (
		mechs      []string
		iterations int32
		password   string
		fromStdin  bool
	)
	cmd := &cobra.Command{
		Use:   "set USER (--password PW | --password-stdin)",
		Short: "Create or change a user's SCRAM credential",
		Long: `Create or change a user's SCRAM credential for each --mechanism. The password is
salted here with a random salt and --iterations rounds of PBKDF2; the broker keeps only
what a login needs to check it.`,
		Example: `  echo alice-secret | gregor users scram set alice --password-stdin
  gregor users scram set alice --mechanism SCRAM-SHA-256,SCRAM-SHA-512 --iterations 8192 --password alice-secret
  gregor --command-config admin.properties users scram set bob --password-stdin < bob.pw`,
		Args: exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := parseMechanisms(mechs)
			if err != nil {
				return err
			}
			if fromStdin == (password != "") {
				return usagef("give the password with --password or --password-stdin (one of them)")
			}
			if fromStdin {
				if password, err = readPassword(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			var ups []kadm.UpsertSCRAM
			for _, m := range ms {
				ups = append(ups, kadm.UpsertSCRAM{User: args[0], Mechanism: m, Iterations: iterations, Password: password})
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
			if err != nil {
				return kafkaErr("AlterUserScramCredentials", err)
			}
			return writeScramResults(cmd, g, "set", res, ms)
		},
	}
	cmd.Flags().StringSliceVar(&mechs, "mechanism", []string{"SCRAM-SHA-256"}, "SCRAM-SHA-256 and/or SCRAM-SHA-512")
	cmd.Flags().Int32Var(&iterations, "iterations", 4096, "PBKDF2 iterations (4096-16384)")
	cmd.Flags().StringVar(&password, "password", "", "the password (visible to other local users in the process list; prefer --password-stdin)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// readPassword reads the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("--password-stdin: standard input has no password")
	}
	return line, nil
}

func newScramDelete(g *globals) *cobra.Command {
	var mechs []string
	cmd := &cobra.Command{
		Use:   "delete USER --mechanism M",
		Short: "Delete a user's SCRAM credential",
		Example: `  gregor users scram delete alice
  gregor users scram delete alice --mechanism SCRAM-SHA-256,SCRAM-SHA-512`,
		Args: exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := parseMechanisms(mechs)
			if err != nil {
				return err
			}
			var dels []kadm.DeleteSCRAM
			for _, m := range ms {
				dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: m})
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
			if err != nil {
				return kafkaErr("AlterUserScramCredentials", err)
			}
			return writeScramResults(cmd, g, "deleted", res, ms)
		},
	}
	cmd.Flags().StringSliceVar(&mechs, "mechanism", []string{"SCRAM-SHA-256"}, "SCRAM-SHA-256 and/or SCRAM-SHA-512")
	return cmd
}

// describedScram is one credential in `users scram describe`.
type describedScram struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism,omitempty"`
	Iterations int32  `json:"iterations,omitempty"`
	Error      string `json:"error,omitempty"`
}

func newScramDescribe(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe [USER...]",
		Short: "List users' SCRAM mechanisms and iteration counts (every user without arguments)",
		Example: `  gregor users scram describe
  gregor users scram describe alice bob --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.DescribeUserSCRAMs(ctx, args...)
			if err != nil {
				return kafkaErr("DescribeUserScramCredentials", err)
			}
			out := []describedScram{}
			var failed error
			for _, r := range res.Sorted() {
				if r.Err != nil {
					err := respErr(r.Err, r.ErrMessage)
					out = append(out, describedScram{User: r.User, Error: err.Error()})
					failed = errors.Join(failed, fmt.Errorf("user %s: %w", r.User, err))
					continue
				}
				infos := r.CredInfos
				sort.Slice(infos, func(i, j int) bool { return infos[i].Mechanism < infos[j].Mechanism })
				for _, ci := range infos {
					out = append(out, describedScram{User: r.User, Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				if err := writeJSON(w, out); err != nil {
					return err
				}
				return failed
			}
			t := newTable("USER", "MECHANISM", "ITERATIONS")
			for _, d := range out {
				if d.Error == "" {
					t.add(d.User, d.Mechanism, d.Iterations)
				}
			}
			if err := t.write(w); err != nil {
				return err
			}
			return failed
		},
	}
}
