// compose_config: what `docker compose config` does to a compose file, without Docker:
// compose-go (the loader Docker Compose itself uses) reads the files named on the command
// line, validates them against the Compose Specification's schema, resolves paths, env
// files and anchors, checks consistency (depends_on, networks, volumes, secrets), and
// prints the result. Built and run by deploy/validate.sh; exit 1 with the reason on error.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	opts, err := cli.NewProjectOptions(os.Args[1:], cli.WithOsEnv, cli.WithDotEnv, cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
