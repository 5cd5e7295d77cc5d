import type { SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { BATCH_JOB_GPUS, BATCH_JOB_TIMEOUT_SECONDS, BatchRunner } from '../../src/runner/batch-runner';
import { JOB_CREDENTIAL_MAX_SECONDS, jobSessionPolicy } from '../../src/runner/job-credentials';
import { runnerFromConfig } from '../../src/app/runner';
import { blobStoreFromConfig } from '../../src/app/storage';
import { FakeBatch } from '../support/fake-batch';
import { allows as policyAllows, type PolicyDocument } from '../support/iam-policy';

/**
 * The CloudFormation template for the AWS side (deploy/aws/transcribe.cfn.json), checked offline: the resources
 * an operator needs exist, the roles grant no more than the service and the worker use, and the job definition
 * agrees with what the service's own Batch runner really submits (captured from a SubmitJob call).
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const template = JSON.parse(readFileSync('deploy/aws/transcribe.cfn.json', 'utf8')) as Json;
const resources = template.Resources as Record<string, Json>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const one = (type: string) => {
  const found = ofType(type);
  expect(found, type).toHaveLength(1);
  return found[0][1].Properties as Json;
};
const statements = (document: Json) => document.Statement as Json[];
const list = <T>(value: T | T[]) => (Array.isArray(value) ? value : [value]);

describe('the AWS CloudFormation template', () => {
  it('holds the bucket, both compute environments, the queue, the job definition and the roles', () => {
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    const bucket = one('AWS::S3::Bucket');
    const rules = bucket.LifecycleConfiguration.Rules as Json[];
    expect(rules.some((r) => r.Status === 'Enabled' && r.AbortIncompleteMultipartUpload?.DaysAfterInitiation >= 1)).toBe(true);
    // Expiry reaches only the orders' folders (results and audio), never backups or anything else in the
    // bucket, after the days the service's own retention uses: one setting, RESULT_RETENTION_DAYS.
    const expiring = rules.filter((r) => r.ExpirationInDays);
    expect(expiring).toEqual([
      { Id: 'expire-order-blobs', Status: 'Enabled', Prefix: 'orders/', ExpirationInDays: { Ref: 'ResultRetentionDays' } },
    ]);
    expect(template.Parameters.ResultRetentionDays.Default).toBe(loadConfig({}).retention.resultDays);
    expect(template.Outputs.ResultRetentionDays).toMatchObject({
      Description: 'RESULT_RETENTION_DAYS',
      Value: { Ref: 'ResultRetentionDays' },
    });
    const configurationDoc = readFileSync('docs/configuration.md', 'utf8');
    const retentionRow = configurationDoc.split('\n').find((line) => line.startsWith('| `RESULT_RETENTION_DAYS`'));
    expect(retentionRow).toContain('ResultRetentionDays');
    expect(Object.values(bucket.PublicAccessBlockConfiguration)).toEqual([true, true, true, true]);

    const environments = ofType('AWS::Batch::ComputeEnvironment').map(([name, r]) => ({ name, ...r.Properties.ComputeResources }));
    expect(environments.map((e) => e.Type).sort()).toEqual(['EC2', 'SPOT']);
    for (const environment of environments) {
      expect(environment.Ec2Configuration).toEqual([{ ImageType: 'ECS_AL2_NVIDIA' }]);
      expect(environment.MinvCpus).toBe(0);
    }
    const instanceTypes = String(template.Parameters.InstanceTypes.Default).split(',');
    expect(instanceTypes.every((t) => /^(g\d|p\d)/.test(t))).toBe(true);

    // Spot first; on-demand takes the jobs Spot cannot.
    const queue = one('AWS::Batch::JobQueue');
    const order = [...(queue.ComputeEnvironmentOrder as Json[])].sort((a, b) => a.Order - b.Order).map((o) => o.ComputeEnvironment.Ref);
    expect(order.map((name: string) => resources[name].Properties.ComputeResources.Type)).toEqual(['SPOT', 'EC2']);

    expect(ofType('AWS::Batch::JobDefinition')).toHaveLength(1);
    expect(resources.WorkerRole.Type).toBe('AWS::IAM::Role');
    expect(resources.ServicePolicy.Type).toBe('AWS::IAM::ManagedPolicy');
    // What the operator copies into .env.
    expect(Object.keys(template.Outputs)).toEqual(
      expect.arrayContaining(['BucketName', 'JobQueueName', 'JobDefinitionName', 'JobScopeRoleArn', 'ServicePolicyArn']),
    );
    expect(template.Outputs.JobQueueName.Value).toEqual(queue.JobQueueName);
    expect(template.Outputs.JobDefinitionName.Value).toEqual(resources.JobDefinition.Properties.JobDefinitionName);
  });

  it('keeps a Batch job to order audio and its results: no backups, nothing else in the bucket, no audio overwritten', () => {
    const worker = statements(resources.JobScopeRole.Properties.Policies[0].PolicyDocument);
    const bucket = 'arn:aws:s3:::transcribe-bucket';
    const allows = (action: string, key: string) =>
      worker.some(
        (s) =>
          s.Effect === 'Allow' &&
          list(s.Action).includes(action) &&
          list(s.Resource).some((r: Json) => arnMatches(String(r['Fn::Sub'] ?? '').replace('${Bucket.Arn}', bucket), `${bucket}/${key}`)),
      );
    // Keys as intake writes them: orders/<order id>/<position>.
    expect(allows('s3:GetObject', 'orders/0b9d2c1e-order/0')).toBe(true);
    expect(allows('s3:PutObject', 'orders/0b9d2c1e-order/0_result.json')).toBe(true);
    // A database backup kept in the same bucket (BACKUP_TO=s3://<bucket>/backups) holds every user and payment.
    expect(allows('s3:GetObject', 'backups/service-20260101T000000Z.db.gz')).toBe(false);
    expect(allows('s3:GetObject', 'anything-else')).toBe(false);
    expect(allows('s3:PutObject', 'backups/service-20260101T000000Z.db.gz')).toBe(false);
    expect(allows('s3:PutObject', 'backups/x_result.json')).toBe(false);
    // Results only, never over the audio.
    expect(allows('s3:PutObject', 'orders/0b9d2c1e-order/0')).toBe(false);
  });

  it('grants least privilege: no wildcards but the read-only Batch calls that have no resource level', () => {
    const policies: { owner: string; document: Json }[] = [
      ...ofType('AWS::IAM::Role').flatMap(([owner, r]) =>
        (r.Properties.Policies ?? []).map((p: Json) => ({ owner, document: p.PolicyDocument })),
      ),
      ...ofType('AWS::IAM::ManagedPolicy').map(([owner, r]) => ({ owner, document: r.Properties.PolicyDocument })),
    ];
    for (const { owner, document } of policies) {
      for (const statement of statements(document).filter((s) => s.Effect === 'Allow')) {
        for (const action of list(statement.Action)) expect(action, owner).not.toMatch(/\*/);
        if (list(statement.Resource).includes('*'))
          expect(list(statement.Action).sort(), owner).toEqual(['batch:DescribeJobs', 'batch:ListJobs']);
      }
    }

    const scope = statements(resources.JobScopeRole.Properties.Policies[0].PolicyDocument);
    expect(scope.flatMap((s) => list(s.Action)).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(resources.WorkerRole.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'ecs-tasks.amazonaws.com' });

    const service = statements(resources.ServicePolicy.Properties.PolicyDocument);
    const submit = service.find((s) => list(s.Action).includes('batch:SubmitJob'))!;
    expect(list(submit.Resource)).toEqual([
      { Ref: 'JobQueue' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/${AWS::StackName}-whisper:*' },
    ]);
    expect(resources.JobDefinition.Properties.JobDefinitionName).toEqual({ 'Fn::Sub': '${AWS::StackName}-whisper' });
    expect(service.flatMap((s) => list(s.Action))).not.toContain('iam:PassRole');
  });

  it("gives each job a session of JobScopeRole, taken by the service, and the job's own role nothing", () => {
    // A job could fetch its task role's credentials itself: that role must reach nothing, or scoping is moot.
    const worker = resources.WorkerRole.Properties as Json;
    expect(worker.Policies).toBeUndefined();
    expect(worker.ManagedPolicyArns).toBeUndefined();

    const scope = resources.JobScopeRole.Properties as Json;
    expect(resources.JobScopeRole.Type).toBe('AWS::IAM::Role');
    // The longest session the runner asks for; a shorter maximum would make STS refuse it.
    expect(scope.MaxSessionDuration).toBe(JOB_CREDENTIAL_MAX_SECONDS);
    expect(statements(scope.AssumeRolePolicyDocument)).toEqual([
      {
        Sid: 'ServiceOfThisAccount',
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } },
        Action: 'sts:AssumeRole',
      },
    ]);
    // Only the service's policy lets a principal of the account take it.
    const service = statements(resources.ServicePolicy.Properties.PolicyDocument);
    const assume = service.filter((s) => list(s.Action).includes('sts:AssumeRole'));
    expect(assume.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': ['JobScopeRole', 'Arn'] }]);
    expect(template.Outputs.JobScopeRoleArn.Value).toEqual({ 'Fn::GetAtt': ['JobScopeRole', 'Arn'] });

    // What a job can do is what the role and the runner's session policy both allow.
    const bucket = 'transcribe-bucket-1a2b3c';
    const role = JSON.parse(
      JSON.stringify(scope.Policies[0].PolicyDocument)
        .replaceAll('${Bucket.Arn}', `arn:aws:s3:::${bucket}`)
        .replace(/\{"Fn::Sub":("[^"]*")\}/g, '$1'),
    ) as PolicyDocument;
    const own = 'orders/0123456789abcdef0123456789abcdef';
    const other = 'orders/fedcba9876543210fedcba9876543210';
    const session = jobSessionPolicy({ roleArn: 'arn:aws:iam::123456789012:role/transcribe-JobScopeRole-X', bucket }, [`${own}/0`]);
    const can = (action: string, key: string) =>
      policyAllows(role, action, `arn:aws:s3:::${bucket}/${key}`) && policyAllows(session, action, `arn:aws:s3:::${bucket}/${key}`);
    expect(can('s3:GetObject', `${own}/0`)).toBe(true);
    expect(can('s3:PutObject', `${own}/0_result.json`)).toBe(true);
    expect(can('s3:PutObject', `${own}/0`)).toBe(false);
    expect(can('s3:GetObject', `${other}/0`)).toBe(false);
    expect(can('s3:PutObject', `${other}/0_result.json`)).toBe(false);
    expect(can('s3:GetObject', 'backups/service-20260101T000000Z.db.gz')).toBe(false);
  });

  describe('agrees with what the Batch runner submits', () => {
    let batch: FakeBatch;
    let submitted: SubmitJobCommandInput;

    beforeAll(async () => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
      batch = new FakeBatch({ mode: 'hold' });
      const endpoint = await batch.start();
      const config = loadConfig({
        STORAGE: 's3',
        S3_BUCKET: 'transcribe-audio',
        AWS_REGION: 'eu-west-1',
        RUNNER: 'batch',
        BATCH_JOB_QUEUE: 'transcribe-gpu',
        BATCH_JOB_DEFINITION: 'transcribe-whisper',
        BATCH_ENDPOINT: endpoint,
      });
      const runner = runnerFromConfig(config, createLogger('silent'), blobStoreFromConfig(config)) as BatchRunner;
      runner.client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'SubmitJobCommand') submitted = args.input as SubmitJobCommandInput;
          return next(args);
        },
        { step: 'initialize' },
      );
      await runner.submit({
        version: 1,
        jobId: 'order-1',
        inputs: [{ key: 'orders/order-1/0', name: 'voice.ogg' }],
        options: { language: 'auto' },
      });
      await runner.close();
    });

    afterAll(async () => {
      vi.unstubAllEnvs();
      await batch.stop();
    });

    const definition = () => resources.JobDefinition.Properties as Json;

    it('one GPU and the same time limit', () => {
      const gpu = (definition().ContainerProperties.ResourceRequirements as Json[]).find((r) => r.Type === 'GPU');
      expect(gpu?.Value).toBe(String(BATCH_JOB_GPUS));
      expect(submitted.containerOverrides?.resourceRequirements).toEqual([{ type: 'GPU', value: String(BATCH_JOB_GPUS) }]);
      expect(definition().Timeout.AttemptDurationSeconds).toBe(BATCH_JOB_TIMEOUT_SECONDS);
      expect(submitted.timeout?.attemptDurationSeconds).toBe(BATCH_JOB_TIMEOUT_SECONDS);
    });

    it('the same worker variables, pointing at the stack bucket', () => {
      const sent = Object.fromEntries((submitted.containerOverrides?.environment ?? []).map((v) => [v.name!, v.value!]));
      expect(JSON.parse(sent.JOB_MANIFEST!).jobId).toBe('order-1');
      delete sent.JOB_MANIFEST;
      const declared = Object.fromEntries((definition().ContainerProperties.Environment as Json[]).map((v) => [v.Name, v.Value]));
      expect(Object.keys(declared).sort()).toEqual(Object.keys(sent).sort());
      expect(declared.STORAGE).toBe(sent.STORAGE);
      expect(declared.S3_FORCE_PATH_STYLE).toBe(sent.S3_FORCE_PATH_STYLE);
      expect(declared.S3_BUCKET).toEqual({ Ref: 'Bucket' });
      expect(declared.AWS_REGION).toEqual({ Ref: 'AWS::Region' });
      expect(template.Parameters[declared.LOG_LEVEL.Ref].Default).toBe(sent.LOG_LEVEL);
    });

    it('the GPU worker image, whose own entry point runs the worker', () => {
      const container = definition().ContainerProperties as Json;
      expect(container.Image).toEqual({ Ref: 'WorkerImage' });
      expect(template.Parameters.WorkerImage.Description).toContain('whisper-container/Dockerfile');
      expect(container.Command).toBeUndefined();
      expect(container.JobRoleArn).toEqual({ 'Fn::GetAtt': ['WorkerRole', 'Arn'] });
      const dockerfile = readFileSync('whisper-container/Dockerfile', 'utf8');
      expect(dockerfile).toMatch(/^ENTRYPOINT \[.*"dist\/whisper-container\/main\.mjs"\]$/m);
    });
  });
});

/** IAM's resource matching: `*` any run of characters, `?` one. */
function arnMatches(pattern: string, arn: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return pattern !== '' && new RegExp(`^${regex}$`).test(arn);
}
