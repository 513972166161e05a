// composecheck loads a compose file the way `docker compose config` does (it is the
// compose-spec loader that Docker Compose itself uses): schema validation, variable
// interpolation from an env file, merge keys, depends_on and volume checks. It prints
// the resolved project as YAML, or the first problem and exit code 1.
//
// Used by tests/test_deploy_files.py when the docker compose plugin is not installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "docker-compose.yml", "compose file")
	envFile := flag.String("env-file", ".env", "file with the variables to interpolate")
	flag.Parse()

	options, err := cli.NewProjectOptions(
		[]string{*file},
		cli.WithEnvFiles(*envFile),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
